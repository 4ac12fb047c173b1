"""The real, localized category tree the benchmark is built on, and the verticals it uses.

The vendored table (``resources/shopify_taxonomy_2024-07_aa-ap-lb_6lang.tsv.xz``, MIT, see
``resources/SOURCE.md``) gives every category's name in the six languages. Products get a *leaf*
category; queries name a leaf or one of its ancestors; "the category fits" means "the product's leaf
is the query's node or a descendant of it" (:meth:`Taxonomy.covers`).
"""

from __future__ import annotations

import lzma
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from mlsearch.config import KNOWN_LANGUAGES

RESOURCE = "shopify_taxonomy_2024-07_aa-ap-lb_6lang.tsv.xz"


@dataclass
class Node:
    id: str
    parent: str
    names: dict[str, str]
    children: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Vertical:
    """A product family: the subtrees it draws leaves from and the attributes its products carry.

    ``groups``: target groups a product may have (empty: the attribute does not apply, e.g. pets);
    ``materials``/``colours``: keys of :mod:`mlsearch.data.lexicons`; ``size``: the size system.
    """

    name: str
    roots: tuple[str, ...]
    groups: tuple[str, ...]
    materials: tuple[str, ...]
    size: str  # "letter", "shoe", "litre", "pack"


VERTICALS: tuple[Vertical, ...] = (
    Vertical(
        "clothing",
        # tops, pants, shorts, dresses, skirts, outerwear, socks, swimwear, sleepwear, activewear,
        # baby clothing, lingerie, men's undergarments, boys'/girls' underwear
        ("aa-1-13", "aa-1-12", "aa-1-14", "aa-1-4", "aa-1-15", "aa-1-10", "aa-1-18", "aa-1-20",
         "aa-1-17", "aa-1-1", "aa-1-2", "aa-1-6", "aa-1-8", "aa-1-3", "aa-1-5"),
        ("women", "men", "girls", "boys", "unisex"),
        ("cotton", "wool", "linen", "polyester", "denim"),
        "letter",
    ),
    Vertical(
        "shoes",
        ("aa-8",),
        ("women", "men", "girls", "boys", "unisex"),
        ("leather", "suede", "canvas", "mesh", "rubber"),
        "shoe",
    ),
    Vertical(
        "bags",
        ("lb",),
        ("women", "men", "unisex"),
        ("leather", "nylon", "canvas", "polyester"),
        "litre",
    ),
    Vertical(
        "pets",
        ("ap-2-2", "ap-2-3", "ap-2-9", "ap-2-14", "ap-2-17", "ap-2-6", "ap-2-16"),
        (),
        ("plastic", "steel", "ceramic", "nylon", "plush"),
        "pack",
    ),
)

#: Words of an English category name that fix the target group (the name already says who it is for).
_FIXED_GROUP = (
    ("Women's", "women"), ("Maternity", "women"), ("Nursing Bras", "women"), ("Lingerie", "women"),
    ("Men's", "men"), ("Boys'", "boys"), ("Girls'", "girls"), ("Kids'", "unisex"),
    ("Baby", "baby"), ("Toddler", "baby"), ("First Steps", "baby"),
)
#: Leaves worn by women/girls only in this catalogue (dresses, skirts, bras ...).
_FEMALE_ONLY = ("Dress", "Skirt", "Bra", "Bikini", "Nightgown", "Heels", "Flats", "Camisole", "Burkini",
                "Tunic", "Blouse", "Jegging", "Leggings", "Hosiery", "Cosmetic", "Makeup", "Train Cases")


@dataclass
class Taxonomy:
    nodes: dict[str, Node]

    def ancestors(self, node_id: str) -> list[str]:
        """Parents from the node's parent up to the top-level vertical (nearest first)."""
        out = []
        cur = self.nodes[node_id].parent
        while cur:
            out.append(cur)
            cur = self.nodes[cur].parent
        return out

    def covers(self, node_id: str, leaf_id: str) -> bool:
        """True when ``leaf_id`` is ``node_id`` or lies below it."""
        return leaf_id == node_id or node_id in self.ancestors(leaf_id)

    def leaves(self, root: str) -> list[str]:
        """Leaves under ``root`` (itself if it is a leaf), in table order."""
        node = self.nodes[root]
        if not node.children:
            return [root]
        out: list[str] = []
        for child in node.children:
            out.extend(self.leaves(child))
        return out

    def name(self, node_id: str, lang: str) -> str:
        return self.nodes[node_id].names[lang]


def fixed_group(name_en: str) -> str | None:
    """The target group a category name implies (``"Boys' Underpants"`` → boys), else None."""
    for word, group in _FIXED_GROUP:
        if word in name_en:
            return group
    return None


def allowed_groups(vertical: Vertical, leaf_en: str, path_en: list[str]) -> tuple[str, ...]:
    """Target groups that make sense for a leaf: fixed by its name or path, female-only items, or the vertical's."""
    if not vertical.groups:
        return ()
    for name in [leaf_en, *path_en]:
        g = fixed_group(name)
        if g:
            return (g,)
    if any(w in leaf_en for w in _FEMALE_ONLY):
        return tuple(g for g in ("women", "girls") if g in vertical.groups)
    return vertical.groups


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """Parse the vendored table once (about 900 categories; milliseconds)."""
    raw = resources.files("mlsearch.data").joinpath("resources", RESOURCE).read_bytes()
    lines = lzma.decompress(raw).decode("utf-8").splitlines()
    header = lines[0].split("\t")
    nodes: dict[str, Node] = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t"), strict=True))
        names = {lang: row[f"name_{lang}"].strip() for lang in KNOWN_LANGUAGES}
        nodes[row["id"]] = Node(row["id"], row["parent_id"], names)
    for node in nodes.values():  # table order keeps children deterministic
        if node.parent:
            nodes[node.parent].children.append(node.id)
    return Taxonomy(nodes)
