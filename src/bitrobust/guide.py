"""The user guide: the README and the pages of ``docs/`` in one place.

This module has no code. ``bash scripts/docs.sh`` renders it, and the API reference of
every module from its docstrings, into ``site/`` with pdoc.

.. include:: ../../README.md

.. include:: ../../docs/concepts.md

.. include:: ../../docs/howto.md

.. include:: ../../docs/reproduce.md

.. include:: ../../docs/report.md

.. include:: ../../docs/energy.md

.. include:: ../../docs/RESULTS.md
"""
