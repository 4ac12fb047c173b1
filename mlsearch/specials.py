"""The special tokens every tokenizer of the package shares, by text and id.

Trained tokenizers (mlsearch.text) put them first; a pretrained checkpoint's pruned vocabulary
(mlsearch.pretrained) renumbers its own to the same ids, so the model treats both alike.
"""

PAD, UNK, CLS = "[PAD]", "[UNK]", "[CLS]"
#: Padding (masked everywhere), unknown (also the hidden token of masked-token pre-training), [CLS].
PAD_ID, UNK_ID, CLS_ID = 0, 1, 2
#: The first id of a real token.
FIRST_TOKEN_ID = 3
