"""A Tune job over the cell space with the nas searcher, ASHA and a trainable on synthetic data, as a Ray Tune user
writes one (tests/test_tune.py runs it, kills it and restores it). Arguments: ADDRESS STORAGE new|restore [N]."""
import sys

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from nas.app.tune import GenomeSearcher, trainable

address, storage, mode = sys.argv[1], sys.argv[2], sys.argv[3]
ray.init(address=address, log_to_driver=False)
train = trainable("cell", dataset="synthetic", epochs=3, train_images=None)
if mode == "restore":
    tuner = tune.Tuner.restore(f"{storage}/genomes", trainable=train, resume_unfinished=True, resume_errored=True)
else:
    searcher = GenomeSearcher("cell", strategy="evolution", budget="60M", seed=0)
    tuner = tune.Tuner(train, tune_config=tune.TuneConfig(
        search_alg=searcher, scheduler=ASHAScheduler(time_attr="epoch", max_t=3, grace_period=1, reduction_factor=3),
        metric="accuracy", mode="max", num_samples=int(sys.argv[4]), max_concurrent_trials=2),
        run_config=tune.RunConfig(name="genomes", storage_path=storage))
results = tuner.fit()
done = [r for r in results if r.metrics and "accuracy" in r.metrics]
print("TRIALS", len(results), "DONE", len(done), "ERRORS", len(results.errors))
print("EPOCHS", sorted(r.metrics["epoch"] for r in done))
print("CANDIDATES", sorted(r.config["candidate"] for r in results))
print("BEST", results.get_best_result().config["macs"])
