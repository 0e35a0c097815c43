using System.Threading.Channels;
using Grpc.Health.V1;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace AsrService.Grpc;

/// <summary>
/// grpc.health.v1.Health with a status per service name that the host sets: "" is the server as a whole (SERVING from
/// the start), other names are fully-qualified service names such as <c>asr.v1.Asr</c>. Watch calls get the current
/// status at once and every change after it.
/// </summary>
/// <remarks>
/// When the host begins to stop (and <see cref="GrpcServerOptions.SetNotServingOnShutdown"/> is on), every status turns
/// NOT_SERVING and Watch calls end with UNAVAILABLE: load balancers stop sending new calls, and the never-ending Watch
/// streams do not hold up Kestrel's drain of in-flight calls.
/// </remarks>
public sealed class GrpcHealthService : Health.HealthBase
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal) { [string.Empty] = ServingStatus.Serving };
    private readonly List<Watcher> _watchers = [];
    private bool _shutDown;

    /// <summary>Creates the service; DI passes the host's lifetime so that shutdown turns statuses NOT_SERVING.</summary>
    public GrpcHealthService(IOptions<GrpcServerOptions> options, IHostApplicationLifetime? lifetime = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Value.SetNotServingOnShutdown && lifetime is not null)
        {
            lifetime.ApplicationStopping.Register(static state => ((GrpcHealthService)state!).EnterShutdown(), this);
        }
    }

    /// <summary>Sets the status of a service ("" for the whole server) and tells its watchers.</summary>
    public void SetStatus(string service, ServingStatus status)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            _statuses[service] = status;
            Notify(service, status);
        }
    }

    /// <summary>Forgets a service's status: Check answers NOT_FOUND for it and watchers see SERVICE_UNKNOWN.</summary>
    public bool ClearStatus(string service)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            if (!_statuses.Remove(service))
            {
                return false;
            }

            Notify(service, ServingStatus.ServiceUnknown);
            return true;
        }
    }

    /// <summary>The status of a service, or null when it has none.</summary>
    public ServingStatus? GetStatus(string service)
    {
        lock (_lock)
        {
            return _statuses.TryGetValue(service, out var status) ? status : null;
        }
    }

    /// <summary>
    /// Turns every status NOT_SERVING, sends that to all watchers and ends their calls. Called on host shutdown; call it
    /// yourself to drain by hand.
    /// </summary>
    public void EnterShutdown()
    {
        lock (_lock)
        {
            _shutDown = true;
            foreach (var service in _statuses.Keys.ToList())
            {
                _statuses[service] = ServingStatus.NotServing;
            }

            foreach (var watcher in _watchers)
            {
                watcher.Updates.Writer.TryWrite(_statuses.TryGetValue(watcher.Service, out var status) ? status : ServingStatus.NotServing);
                watcher.Updates.Writer.TryComplete();
            }
        }
    }

    /// <inheritdoc />
    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        var status = GetStatus(request.Service)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"Unknown service '{request.Service}'."));
        return Task.FromResult(new HealthCheckResponse { Status = status });
    }

    /// <inheritdoc />
    public override async Task Watch(
        HealthCheckRequest request,
        IServerStreamWriter<HealthCheckResponse> responseStream,
        ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);

        // Capacity one, newest wins: a slow watcher gets the latest status, not a backlog of stale ones.
        var updates = Channel.CreateBounded<ServingStatus>(new BoundedChannelOptions(1)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        var watcher = new Watcher(request.Service, updates);
        lock (_lock)
        {
            updates.Writer.TryWrite(_statuses.TryGetValue(request.Service, out var current) ? current : ServingStatus.ServiceUnknown);
            if (_shutDown)
            {
                updates.Writer.TryComplete();
            }
            else
            {
                _watchers.Add(watcher);
            }
        }

        try
        {
            ServingStatus? sent = null;
            var token = context.CancellationToken;
            while (await updates.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (updates.Reader.TryRead(out var status))
                {
                    if (status != sent)
                    {
                        await responseStream.WriteAsync(new HealthCheckResponse { Status = status }, token).ConfigureAwait(false);
                        sent = status;
                    }
                }
            }

            throw new RpcException(new Status(StatusCode.Unavailable, "Server is shutting down."));
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(watcher);
            }
        }
    }

    private void Notify(string service, ServingStatus status)
    {
        foreach (var watcher in _watchers)
        {
            if (watcher.Service == service)
            {
                watcher.Updates.Writer.TryWrite(status);
            }
        }
    }

    private sealed record Watcher(string Service, Channel<ServingStatus> Updates);
}
