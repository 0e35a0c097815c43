using Microsoft.ML.OnnxRuntime;

namespace AsrService.Onnx;

/// <summary>
/// Makes a cancellation token stop ONNX Runtime runs that are under way, not only the loop between them: while this
/// scope lives, cancelling the token sets the terminate flag of <paramref name="options"/>, and every run using them
/// stops at its next node. A decode of a long segment spends most of its time inside single runs (the encoder, the
/// first decoder call over a draft), so checking the token between steps alone would leave a preempted interim
/// holding its core for tens of milliseconds.
/// </summary>
internal readonly struct RunCancellation : IDisposable
{
    private readonly RunOptions _options;
    private readonly CancellationToken _token;
    private readonly CancellationTokenRegistration _registration;

    public RunCancellation(RunOptions options, CancellationToken token)
    {
        _options = options;
        _token = token;
        _registration = token.CanBeCanceled
            ? token.UnsafeRegister(static state => ((RunOptions)state!).Terminate = true, options)
            : default;
    }

    /// <summary>
    /// Whether <paramref name="error"/> is the run stopping because the token was cancelled (ONNX Runtime reports
    /// the terminate flag as a failed run); the caller then throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public bool Stopped(Exception error) => error is OnnxRuntimeException && _token.IsCancellationRequested;

    public void Dispose()
    {
        // Disposing the registration waits for a callback already running, so the flag is not set after this resets it.
        _registration.Dispose();
        if (_options.Terminate)
        {
            _options.Terminate = false;
        }
    }
}
