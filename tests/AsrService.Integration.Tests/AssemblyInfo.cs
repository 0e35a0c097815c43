// Model-backed tests are CPU-bound: running collections side by side on a 2-core machine only slows each down.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
