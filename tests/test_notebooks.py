"""Each area notebook executes top to bottom under pytest-notebook with tiny parameters.

These are smoke tests (outputs are ignored); the figures are checked against hand computations in
the package's own tests and end to end in test_runner.py.
"""

import nbformat
import pytest
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from pytest_notebook.nb_regression import NBRegressionFixture

from conftest import AS_OF, ROOT, make_params
from playbook.areas import AREAS

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("products", [["mobile-app"], ["no-such-product"]], ids=["with-rows", "no-rows"])
@pytest.mark.parametrize("area", sorted(AREAS))
def test_notebook_runs_with_tiny_parameters(area, products, tmp_path, tiny_workspace):
    params = make_params(tmp_path, tiny_workspace, teams={"tiny": {"name": "Tiny", "products": products}})
    nb = load_notebook_node(str(ROOT / "notebooks" / f"{area}.ipynb"))
    nb = parameterize_notebook(nb, {"team": "tiny", "params_dir": str(params), "as_of": AS_OF.isoformat()})
    path = tmp_path / f"{area}.ipynb"
    nbformat.write(nb, path)
    fixture = NBRegressionFixture(
        exec_timeout=300,
        diff_ignore=("/cells/*/outputs", "/cells/*/execution_count", "/metadata/language_info", "/metadata/widgets", "/cells/*/metadata"),
    )
    result = fixture.check(str(path), raise_errors=True)
    executed = result.nb_final
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    html = [o for c in executed.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("Tiny" in o["data"]["text/html"] for o in html)
