"""Bit errors in quantized weights (contract 2): memory layout, chips, error models.

Errors act on the stored words of a :class:`~bitrobust.quantization.QuantizedState`, never on floats:
memory layout v2 (contract 5, :mod:`bitrobust.quantization.layout`) puts the data words, then the metadata
words, then the ECC check bits one after another; for one per-tensor format of m bits, word i holds bits
i*m .. i*m + m - 1, as in contract 2.
SECDED ECC (contract 6, :mod:`bitrobust.bit_errors.ecc`) protects that bit stream in k-bit codewords;
:mod:`bitrobust.bit_errors.protection` reads a state through protected bits/tensors, targets and ECC.
"""

from bitrobust.bit_errors.bitstream import (
    bits_to_words,
    bytes_to_words,
    pack_stream,
    unpack_stream,
    word_dtype,
    words_to_bits,
    words_to_bytes,
)
from bitrobust.bit_errors.ecc import POLICIES as ECC_POLICIES
from bitrobust.bit_errors.ecc import (
    SECDED_CODES,
    SECDED_K,
    EccCounts,
    Secded,
    secded_code,
)
from bitrobust.bit_errors.memory_image import (
    export_memory_image,
    import_memory_image,
    pack_bits,
    read_manifest,
    read_memory_image,
    unpack_bits,
)
from bitrobust.bit_errors.profiled import (
    ChipStats,
    ProfiledBitErrors,
    ProfiledChip,
    chip_from_code_map,
    chip_offsets,
    load_chip,
)
from bitrobust.bit_errors.protection import (
    BIT_FIELDS,
    PROTECTION_FIELDS,
    ProtectedMemory,
    Protection,
    read_protected,
)
from bitrobust.bit_errors.random_chips import (
    RandomBitErrors,
    check_rate,
    chip_seed,
    flip_bits,
)
from bitrobust.bit_errors.synthetic import (
    PAPER_CHIPS,
    PaperChip,
    SyntheticChipSpec,
    column_aligned_chip,
    paper_chip,
    synthetic_chip,
    uniform_chip,
)

__all__ = [
    "BIT_FIELDS",
    "PROTECTION_FIELDS",
    "ProtectedMemory",
    "Protection",
    "read_protected",
    "ECC_POLICIES",
    "PAPER_CHIPS",
    "SECDED_CODES",
    "SECDED_K",
    "ChipStats",
    "EccCounts",
    "PaperChip",
    "ProfiledBitErrors",
    "ProfiledChip",
    "RandomBitErrors",
    "Secded",
    "SyntheticChipSpec",
    "bits_to_words",
    "bytes_to_words",
    "check_rate",
    "chip_from_code_map",
    "chip_offsets",
    "chip_seed",
    "column_aligned_chip",
    "export_memory_image",
    "flip_bits",
    "import_memory_image",
    "load_chip",
    "pack_bits",
    "pack_stream",
    "paper_chip",
    "read_manifest",
    "read_memory_image",
    "secded_code",
    "synthetic_chip",
    "uniform_chip",
    "unpack_bits",
    "unpack_stream",
    "word_dtype",
    "words_to_bits",
    "words_to_bytes",
]
