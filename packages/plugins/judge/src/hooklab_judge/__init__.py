"""hooklab-judge: the ``hooklab judge pairwise|score|report`` command line.

The judge logic is in core (:mod:`hooklab.judges`, :mod:`hooklab.judge_report`); the judges are
registered by backend plugins (``openai`` by hooklab-openai, ``local`` by hooklab-local). This
package only adds the verbs, in one place, whatever backends are installed.
"""

__version__ = "0.1.0"
