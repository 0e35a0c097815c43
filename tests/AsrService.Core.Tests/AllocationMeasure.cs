namespace AsrService.Core.Tests;

/// <summary>
/// Bytes allocated on the calling thread by a piece of code, for the zero-allocation tests. The code runs three
/// times and the least is kept: in a full test run the runtime itself now and then allocates on the test's thread once
/// (7,304 bytes were seen once in a CI run of the whole suite), while code under test that allocates does so each time.
/// </summary>
internal static class AllocationMeasure
{
    public static long LeastOf3(Action measured)
    {
        var least = long.MaxValue;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            measured();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
