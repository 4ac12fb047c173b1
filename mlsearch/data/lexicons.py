"""Hand-made attribute words in the six languages: how titles write them and how shoppers type them.

Every entry maps a language-neutral key (``"women"``, ``"black"``, ``"leather"``) to, per language,
``(title form, [query forms...])``. The same keys in every language are the shared "concepts" that make
cross-lingual transfer possible; the surface forms differ, including synonyms that appear only in
queries (English "ladies", Japanese 黒 next to ブラック).
"""

from __future__ import annotations

Lex = dict[str, dict[str, tuple[str, list[str]]]]

GROUPS: Lex = {
    "women": {
        "en": ("Women's", ["womens", "women", "ladies", "women's"]),
        "de": ("Damen", ["damen", "frauen", "für damen"]),
        "fr": ("pour femme", ["femme", "pour femme", "femmes"]),
        "it": ("da donna", ["donna", "da donna", "donne"]),
        "es": ("para mujer", ["mujer", "para mujer", "de mujer"]),
        "ja": ("レディース", ["レディース", "女性", "婦人"]),
    },
    "men": {
        "en": ("Men's", ["mens", "men", "men's"]),
        "de": ("Herren", ["herren", "männer", "für herren"]),
        "fr": ("pour homme", ["homme", "pour homme", "hommes"]),
        "it": ("da uomo", ["uomo", "da uomo"]),
        "es": ("para hombre", ["hombre", "para hombre", "de hombre"]),
        "ja": ("メンズ", ["メンズ", "男性", "紳士"]),
    },
    "girls": {
        "en": ("Girls'", ["girls", "girl", "girls'"]),
        "de": ("Mädchen", ["mädchen", "für mädchen"]),
        "fr": ("pour fille", ["fille", "pour fille", "filles"]),
        "it": ("da bambina", ["bambina", "da bambina", "bimba"]),
        "es": ("para niña", ["niña", "para niña", "de niña"]),
        "ja": ("女の子", ["女の子", "ガールズ"]),
    },
    "boys": {
        "en": ("Boys'", ["boys", "boy", "boys'"]),
        "de": ("Jungen", ["jungen", "für jungen", "jungs"]),
        "fr": ("pour garçon", ["garçon", "pour garçon", "garçons"]),
        "it": ("da bambino", ["bambino", "da bambino", "bimbo"]),
        "es": ("para niño", ["niño", "para niño", "de niño"]),
        "ja": ("男の子", ["男の子", "ボーイズ"]),
    },
    "baby": {
        "en": ("Baby", ["baby", "infant", "toddler"]),
        "de": ("Baby", ["baby", "kleinkind"]),
        "fr": ("pour bébé", ["bébé", "pour bébé"]),
        "it": ("per neonato", ["neonato", "bebè", "neonati"]),
        "es": ("para bebé", ["bebé", "para bebé"]),
        "ja": ("ベビー", ["ベビー", "赤ちゃん"]),
    },
    "unisex": {
        "en": ("Unisex", ["unisex"]),
        "de": ("Unisex", ["unisex"]),
        "fr": ("mixte", ["mixte", "unisexe"]),
        "it": ("unisex", ["unisex"]),
        "es": ("unisex", ["unisex"]),
        "ja": ("男女兼用", ["男女兼用", "ユニセックス"]),
    },
}

COLOURS: Lex = {
    "black": {"en": ("Black", ["black"]), "de": ("Schwarz", ["schwarz"]), "fr": ("Noir", ["noir", "noire"]),
              "it": ("Nero", ["nero", "nera", "neri"]), "es": ("Negro", ["negro", "negra", "negros"]),
              "ja": ("ブラック", ["ブラック", "黒"])},
    "white": {"en": ("White", ["white"]), "de": ("Weiß", ["weiß", "weiss"]), "fr": ("Blanc", ["blanc", "blanche"]),
              "it": ("Bianco", ["bianco", "bianca", "bianchi"]), "es": ("Blanco", ["blanco", "blanca"]),
              "ja": ("ホワイト", ["ホワイト", "白"])},
    "red": {"en": ("Red", ["red"]), "de": ("Rot", ["rot", "rote"]), "fr": ("Rouge", ["rouge"]),
            "it": ("Rosso", ["rosso", "rossa", "rossi"]), "es": ("Rojo", ["rojo", "roja"]),
            "ja": ("レッド", ["レッド", "赤"])},
    "blue": {"en": ("Blue", ["blue"]), "de": ("Blau", ["blau", "blaue"]), "fr": ("Bleu", ["bleu", "bleue"]),
             "it": ("Blu", ["blu"]), "es": ("Azul", ["azul", "azules"]), "ja": ("ブルー", ["ブルー", "青"])},
    "green": {"en": ("Green", ["green"]), "de": ("Grün", ["grün", "gruen"]), "fr": ("Vert", ["vert", "verte"]),
              "it": ("Verde", ["verde", "verdi"]), "es": ("Verde", ["verde", "verdes"]),
              "ja": ("グリーン", ["グリーン", "緑"])},
    "grey": {"en": ("Grey", ["grey", "gray"]), "de": ("Grau", ["grau"]), "fr": ("Gris", ["gris", "grise"]),
             "it": ("Grigio", ["grigio", "grigia"]), "es": ("Gris", ["gris", "grises"]),
             "ja": ("グレー", ["グレー", "灰色"])},
    "beige": {"en": ("Beige", ["beige"]), "de": ("Beige", ["beige"]), "fr": ("Beige", ["beige"]),
              "it": ("Beige", ["beige"]), "es": ("Beige", ["beige"]), "ja": ("ベージュ", ["ベージュ"])},
    "pink": {"en": ("Pink", ["pink"]), "de": ("Rosa", ["rosa", "pink"]), "fr": ("Rose", ["rose"]),
             "it": ("Rosa", ["rosa"]), "es": ("Rosa", ["rosa", "rosado"]), "ja": ("ピンク", ["ピンク"])},
    "brown": {"en": ("Brown", ["brown"]), "de": ("Braun", ["braun"]), "fr": ("Marron", ["marron"]),
              "it": ("Marrone", ["marrone", "marroni"]), "es": ("Marrón", ["marrón", "cafe"]),
              "ja": ("ブラウン", ["ブラウン", "茶色"])},
    "navy": {"en": ("Navy", ["navy", "navy blue"]), "de": ("Marineblau", ["marineblau", "navy"]),
             "fr": ("Bleu marine", ["bleu marine", "marine"]), "it": ("Blu navy", ["blu navy", "blu scuro"]),
             "es": ("Azul marino", ["azul marino"]), "ja": ("ネイビー", ["ネイビー", "紺"])},
}

MATERIALS: Lex = {
    "cotton": {"en": ("Cotton", ["cotton"]), "de": ("Baumwolle", ["baumwolle"]), "fr": ("coton", ["coton"]),
               "it": ("cotone", ["cotone"]), "es": ("algodón", ["algodón"]), "ja": ("コットン", ["コットン", "綿"])},
    "wool": {"en": ("Wool", ["wool"]), "de": ("Wolle", ["wolle"]), "fr": ("laine", ["laine"]),
             "it": ("lana", ["lana"]), "es": ("lana", ["lana"]), "ja": ("ウール", ["ウール"])},
    "linen": {"en": ("Linen", ["linen"]), "de": ("Leinen", ["leinen"]), "fr": ("lin", ["lin"]),
              "it": ("lino", ["lino"]), "es": ("lino", ["lino"]), "ja": ("リネン", ["リネン", "麻"])},
    "polyester": {"en": ("Polyester", ["polyester"]), "de": ("Polyester", ["polyester"]),
                  "fr": ("polyester", ["polyester"]), "it": ("poliestere", ["poliestere"]),
                  "es": ("poliéster", ["poliéster"]), "ja": ("ポリエステル", ["ポリエステル"])},
    "denim": {"en": ("Denim", ["denim"]), "de": ("Denim", ["denim", "jeansstoff"]), "fr": ("denim", ["denim"]),
              "it": ("denim", ["denim"]), "es": ("mezclilla", ["mezclilla", "denim"]), "ja": ("デニム", ["デニム"])},
    "leather": {"en": ("Leather", ["leather"]), "de": ("Leder", ["leder"]), "fr": ("cuir", ["cuir"]),
                "it": ("pelle", ["pelle", "cuoio"]), "es": ("cuero", ["cuero", "piel"]),
                "ja": ("レザー", ["レザー", "本革", "革"])},
    "suede": {"en": ("Suede", ["suede"]), "de": ("Wildleder", ["wildleder"]), "fr": ("daim", ["daim"]),
              "it": ("camoscio", ["camoscio", "scamosciato"]), "es": ("ante", ["ante"]), "ja": ("スエード", ["スエード"])},
    "canvas": {"en": ("Canvas", ["canvas"]), "de": ("Canvas", ["canvas", "segeltuch"]), "fr": ("toile", ["toile"]),
               "it": ("tela", ["tela"]), "es": ("lona", ["lona"]), "ja": ("キャンバス", ["キャンバス"])},
    "mesh": {"en": ("Mesh", ["mesh"]), "de": ("Mesh", ["mesh", "netzstoff"]), "fr": ("mesh", ["mesh", "filet"]),
             "it": ("rete", ["rete", "mesh"]), "es": ("malla", ["malla"]), "ja": ("メッシュ", ["メッシュ"])},
    "rubber": {"en": ("Rubber", ["rubber"]), "de": ("Gummi", ["gummi"]), "fr": ("caoutchouc", ["caoutchouc"]),
               "it": ("gomma", ["gomma"]), "es": ("goma", ["goma", "caucho"]), "ja": ("ラバー", ["ラバー", "ゴム"])},
    "nylon": {"en": ("Nylon", ["nylon"]), "de": ("Nylon", ["nylon"]), "fr": ("nylon", ["nylon"]),
              "it": ("nylon", ["nylon"]), "es": ("nailon", ["nailon", "nylon"]), "ja": ("ナイロン", ["ナイロン"])},
    "plastic": {"en": ("Plastic", ["plastic"]), "de": ("Kunststoff", ["kunststoff", "plastik"]),
                "fr": ("plastique", ["plastique"]), "it": ("plastica", ["plastica"]), "es": ("plástico", ["plástico"]),
                "ja": ("プラスチック", ["プラスチック", "樹脂"])},
    "steel": {"en": ("Stainless Steel", ["stainless steel", "steel"]), "de": ("Edelstahl", ["edelstahl"]),
              "fr": ("inox", ["inox", "acier inoxydable"]), "it": ("acciaio inox", ["acciaio", "inox"]),
              "es": ("acero inoxidable", ["acero inoxidable", "acero"]), "ja": ("ステンレス", ["ステンレス"])},
    "ceramic": {"en": ("Ceramic", ["ceramic"]), "de": ("Keramik", ["keramik"]), "fr": ("céramique", ["céramique"]),
                "it": ("ceramica", ["ceramica"]), "es": ("cerámica", ["cerámica"]), "ja": ("陶器", ["陶器", "セラミック"])},
    "plush": {"en": ("Plush", ["plush", "soft"]), "de": ("Plüsch", ["plüsch"]), "fr": ("peluche", ["peluche"]),
              "it": ("peluche", ["peluche", "morbido"]), "es": ("peluche", ["peluche"]), "ja": ("ぬいぐるみ", ["ふわふわ"])},
}

#: How a size or pack count is written in a title; ``{v}`` is the value.
SIZE_FORMS: dict[str, dict[str, str]] = {
    "letter": {"en": "Size {v}", "de": "Größe {v}", "fr": "taille {v}", "it": "taglia {v}", "es": "talla {v}",
               "ja": "{v}サイズ"},
    "shoe": {"en": "Size {v}", "de": "Gr. {v}", "fr": "pointure {v}", "it": "numero {v}", "es": "talla {v}",
             "ja": "{v}cm"},
    "litre": {"en": "{v} L", "de": "{v} l", "fr": "{v} L", "it": "{v} litri", "es": "{v} l", "ja": "{v}L"},
    "pack": {"en": "Pack of {v}", "de": "{v}er-Pack", "fr": "lot de {v}", "it": "confezione da {v}",
             "es": "pack de {v}", "ja": "{v}個セット"},
}
SIZE_VALUES: dict[str, list[str]] = {
    "letter": ["XS", "S", "M", "L", "XL", "XXL"],
    "shoe": [str(s) for s in range(35, 47)],
    "litre": ["10", "15", "20", "25", "30", "40", "65"],
    "pack": ["1", "2", "3", "4", "6", "12"],
}

#: Sizes of babies' and children's items (their own ranges, so a baby boot is never size 45).
_CHILD_SIZES = {
    "letter": {"baby": ["0-3M", "3-6M", "6-12M", "12-18M", "18-24M"], "kids": ["104", "116", "128", "140", "152"]},
    "shoe": {"baby": [str(s) for s in range(17, 25)], "kids": [str(s) for s in range(26, 37)]},
}


def size_values(system: str, group: str) -> list[str]:
    """Size values for a size system and target group (children's ranges for baby/girls/boys)."""
    child = _CHILD_SIZES.get(system, {})
    if group == "baby" and "baby" in child:
        return child["baby"]
    if group in ("girls", "boys") and "kids" in child:
        return child["kids"]
    return SIZE_VALUES[system]


#: Invented, language-neutral brand names (no real trademark intended), ten per vertical.
BRANDS: dict[str, list[str]] = {
    "clothing": ["Nordvik", "Loremar", "Ostara", "Vellin", "Marlowe & Kit", "Tessaro", "Hanbury", "Kaluna",
                 "Brisa", "Odelle"],
    "shoes": ["Stepwell", "Corvo", "Aldermoor", "Pavoni", "Kyoto Step", "Ruvida", "Halden", "Bellamar",
              "Sorrel Lane", "Trekka"],
    "bags": ["Portavia", "Karst", "Milevo", "Baggins & Co", "Tavola", "Ferrowind", "Lunden", "Okavi",
             "Sacco Nuovo", "Vanderbeek"],
    "pets": ["Pawsome", "Felidae", "Canito", "Whiskerly", "Barkwell", "Mioumiou", "Hundhaus", "Tamapet",
             "Zoolina", "Fetchit"],
}
