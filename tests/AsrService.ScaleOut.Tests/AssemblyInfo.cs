// Each test runs several server processes on a 2-core machine and times how fast calls fail over: nothing else should
// run beside it.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
