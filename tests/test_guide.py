from pathlib import Path

import bitrobust.guide


def test_every_page_the_guide_includes_exists():
    here = Path(bitrobust.guide.__file__).parent
    includes = [line.split("::", 1)[1].strip() for line in bitrobust.guide.__doc__.splitlines() if line.startswith(".. include::")]
    assert len(includes) >= 5
    for rel in includes:
        assert (here / rel).resolve().is_file(), rel
