using AsrService.Grpc;
using AsrService.Server.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AsrService.Server;

/// <summary>
/// Graceful shutdown of the recognition service. When the host begins to stop, and before Kestrel stops listening:
/// health turns NOT_SERVING (load balancers drain this instance), new asr.v1 calls get UNAVAILABLE, and open calls get
/// <see cref="AsrServiceOptions.ShutdownGracePeriod"/> to finish. When it runs out, <see cref="GraceExpired"/> fires:
/// streams finalise what they heard and end with UNAVAILABLE, other calls are cancelled with UNAVAILABLE. Then Kestrel
/// stops as usual.
/// </summary>
/// <remarks>
/// Runs in <see cref="IHostedLifecycleService.StoppingAsync"/>, which the host awaits before it stops any hosted
/// service, Kestrel's included; that is what keeps the listener open (answering UNAVAILABLE and NOT_SERVING rather
/// than refusing connections) during the grace period. The host's shutdown timeout must exceed the grace period;
/// <see cref="AsrServerHost"/> sets it.
/// </remarks>
public sealed class ShutdownDrain : IHostedLifecycleService, IDisposable
{
    private readonly AsrServiceOptions _options;
    private readonly GrpcHealthService _health;
    private readonly AsrMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _graceExpired = new();
    private readonly TaskCompletionSource _allEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _activeCalls;
    private bool _draining;

    public ShutdownDrain(AsrServiceOptions options, GrpcHealthService health, AsrMetrics metrics, ILogger<ShutdownDrain> logger)
    {
        _options = options;
        _health = health;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Whether the server is draining: new calls are refused.</summary>
    public bool IsDraining
    {
        get
        {
            lock (_lock)
            {
                return _draining;
            }
        }
    }

    /// <summary>Cancelled when the grace period ends with calls still open.</summary>
    public CancellationToken GraceExpired => _graceExpired.Token;

    /// <summary>asr.v1 calls in progress.</summary>
    public int ActiveCalls => Volatile.Read(ref _activeCalls);

    /// <summary>Registers a new call; throws UNAVAILABLE while draining. Dispose the result when the call ends.</summary>
    public IDisposable EnterCall()
    {
        lock (_lock)
        {
            if (_draining)
            {
                throw new RpcException(new Status(StatusCode.Unavailable,
                    "the server is shutting down and takes no new calls; retry on another server"));
            }

            _activeCalls++;
        }

        return new CallLease(this);
    }

    /// <summary>Starts the drain and waits until the calls have ended (see the class remarks).</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        int open;
        lock (_lock)
        {
            if (_draining)
            {
                return;
            }

            _draining = true;
            open = _activeCalls;
            if (open == 0)
            {
                _allEnded.TrySetResult();
            }
        }

        _metrics.Draining.Set(1);
        _health.EnterShutdown();
        AsrServiceLog.DrainStarted(_logger, open, _options.ShutdownGracePeriod.TotalSeconds);
        try
        {
            try
            {
                await _allEnded.Task.WaitAsync(_options.ShutdownGracePeriod, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                AsrServiceLog.GracePeriodEnded(_logger, ActiveCalls);
                await _graceExpired.CancelAsync().ConfigureAwait(false);
                await _allEnded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            AsrServiceLog.Drained(_logger);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host's shutdown timeout ran out first; Kestrel aborts whatever is left.
            AsrServiceLog.DrainTimedOut(_logger, ActiveCalls);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _graceExpired.Dispose();

    private void ExitCall()
    {
        lock (_lock)
        {
            _activeCalls--;
            if (_draining && _activeCalls == 0)
            {
                _allEnded.TrySetResult();
            }
        }
    }

    private sealed class CallLease(ShutdownDrain owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.ExitCall();
            }
        }
    }
}
