using AsrService.Onnx;

namespace AsrService.Integration.Tests;

/// <summary>
/// Sessions with more than one thread per run turn ONNX Runtime's spinning off: the encoder and decoder sessions take
/// turns on the same cores, and a worker still spinning after one of them takes a core from the other.
/// </summary>
public sealed class SessionThreadingTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    public void ThreadingEntries_SeveralThreads_TurnSpinningOff(int threads) =>
        Assert.Contains(("session.intra_op.allow_spinning", "0"), OnnxSessionFactory.ThreadingEntries(threads));

    [Fact]
    public void ThreadingEntries_OneThread_LeavesTheDefaults() =>
        Assert.Empty(OnnxSessionFactory.ThreadingEntries(1));
}
