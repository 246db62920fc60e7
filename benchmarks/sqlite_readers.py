"""Optuna SQLite storage with readers beside the writer: a writer adds finished trials (as a study's Optuna record does)
while N reader processes load the study and read every trial (as optuna-dashboard and analysis/report.py do).
Prints write failures ("database is locked") and the slowest write. Run: python benchmarks/sqlite_readers.py DB TIMEOUT_S N_WRITES N_READERS"""
import multiprocessing as mp
import sys
import time

import optuna

db, timeout, n, readers = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
optuna.logging.set_verbosity(optuna.logging.ERROR)

def storage(t):
    return optuna.storages.RDBStorage(f"sqlite:///{db}", engine_kwargs={"connect_args": {"timeout": t}})

def reader(stop):
    s = storage(5.0)
    reads = errors = 0
    while not stop.is_set():
        try:
            st = optuna.load_study(study_name="x", storage=s)
            st.trials_dataframe(); [t.intermediate_values for t in st.get_trials(deepcopy=False)]
            reads += 1
        except Exception:  # "database is locked" and the like: counted
            errors += 1
    print(f"reader: {reads} reads, {errors} errors", flush=True)

if __name__ == "__main__":
    st = optuna.create_study(study_name="x", storage=storage(timeout), load_if_exists=True)
    stop = mp.Event()
    procs = [mp.Process(target=reader, args=(stop,)) for _ in range(readers)]
    [p.start() for p in procs]
    time.sleep(2)
    fails, worst = 0, 0.0
    d = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}
    for i in range(n):
        t0 = time.time()
        try:
            st = optuna.load_study(study_name="x", storage=storage(timeout))
            st.add_trial(optuna.trial.create_trial(params={"lr": 1e-3}, distributions=d, value=float(i),
                                                   intermediate_values={k: float(k) for k in range(0, 4000, 250)}))
        except Exception as e:
            fails += 1
            print("write failed:", type(e).__name__, str(e)[:100], flush=True)
        worst = max(worst, time.time() - t0)
    stop.set(); [p.join() for p in procs]
    print(f"timeout {timeout}: {n} writes, {fails} failed, slowest {worst:.2f} s")
