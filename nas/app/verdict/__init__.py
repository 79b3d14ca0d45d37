"""The verdict: the search's winner and the space's hand-designed baseline retrained on all the training data and
compared on the test split, with an interval that includes training noise.

``report`` holds the statistics and the report (``Verdict``); ``entrants`` what is retrained, read off the
records (import it as ``nas.app.verdict.entrants``: it uses the job records, which use this package).
"""

from .report import (
    AUDIT_MIN,
    AUDIT_TRIALS,
    VERDICT_SEED,
    VERDICT_SEEDS_MAX,
    VERDICT_TRIALS,
    Entrant,
    Scores,
    Verdict,
    fidelity,
    fidelity_text,
    kendall_tau,
    paired_difference,
    report,
    run_name,
    seed_noise,
    tau_interval,
    verdict_run,
    verdict_trial,
    winner_of,
    wording,
)

__all__ = [
    "AUDIT_MIN", "AUDIT_TRIALS", "Entrant", "Scores", "VERDICT_SEED", "VERDICT_SEEDS_MAX", "VERDICT_TRIALS",
    "Verdict", "fidelity", "fidelity_text", "kendall_tau", "paired_difference", "report", "run_name", "seed_noise",
    "tau_interval", "verdict_run", "verdict_trial", "winner_of", "wording",
]
