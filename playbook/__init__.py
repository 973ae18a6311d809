"""Product-ops playbook: per-team reports on tools, escalations, feedback, communication,
experiments and enablement, computed from a DuckDB workspace and rendered from notebooks.

Heavy libraries (seaborn, papermill, nbconvert) are imported lazily by the modules that need
them, so `import playbook` and the `playbook` command stay quick.
"""

__version__ = "0.1.0"
