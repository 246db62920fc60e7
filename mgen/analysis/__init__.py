"""The analysis layer: read a study's results (its folder, a cloud URI or its W&B runs), map and explain them.
It imports no Ray: a laptop reads a cluster's results with pandas, pyarrow, matplotlib and Optuna alone."""
