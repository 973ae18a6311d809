"""The explorers: built for every area, they redraw what they show when a value changes."""

import pytest

from conftest import AS_OF, make_params
from playbook.areas import AREAS
from playbook.context import open_report
from playbook.widgets import Explorer


def _content(shown):
    if hasattr(shown, "savefig"):
        ax = shown.axes[0]
        return ("figure", shown._suptitle.get_text() if shown._suptitle else ax.get_title(loc="left"), len(ax.patches) + len(ax.lines))
    return ("html", shown.data)


@pytest.fixture(scope="module")
def tiny_params(tmp_path_factory, tiny_workspace):
    return make_params(tmp_path_factory.mktemp("explorer"), tiny_workspace)


@pytest.mark.parametrize("area", sorted(AREAS))
def test_explorer_redraws_on_change(area, tiny_params):
    ctx = open_report(area, "platform", tiny_params, as_of=AS_OF)
    explorer = Explorer(ctx, str(tiny_params))
    assert explorer.last is None  # nothing is computed until a value changes
    views = list(explorer.views)
    explorer.view.value = views[1]
    first = explorer.last
    explorer.view.value = views[0]
    assert explorer.last is not first and _content(explorer.last) != _content(first)
    assert explorer.shown == ("platform", "all products", ctx.params.period, views[0])
    before = explorer.last
    explorer.team.value = "mobile"
    assert explorer.product.options == ("all products", "mobile-app")
    assert explorer.last is not before and explorer.shown[0] == "mobile"
    explorer.period.value = "last_90_days"
    assert explorer.shown == ("mobile", "all products", "last_90_days", views[0])
