"""Design-space search: a sampler (Optuna's, or our simulated annealing) proposes configs,
the sweep's executor simulates them, and the best are kept; resumable after a kill.

``spec`` (the search file and its checks), ``constraints`` (expressions over config keys
and derived quantities, evaluated before a trial runs), ``samplers`` (Optuna samplers and
:class:`~accelsim.search.samplers.AnnealingSampler`), ``objectives`` (a trial's objectives
from its runs, the trials table, the Pareto front, hypervolume), ``runner`` (the ask /
simulate / tell loop on the sweep's plan, store and executor); which parameters matter is
read from the trials table by :mod:`accelsim.plot.importance`. May import the sweep
package, the simulator
(``accelsim.sim``), configs, workloads and progress; never the CLI or the plots.
"""

from accelsim.search.objectives import hypervolume_2d, non_dominated
from accelsim.search.runner import SearchResult, run_search
from accelsim.search.spec import Search, SearchError, load_search, search_from_dict

__all__ = ["Search", "SearchError", "SearchResult", "hypervolume_2d", "load_search",
           "non_dominated", "run_search", "search_from_dict"]
