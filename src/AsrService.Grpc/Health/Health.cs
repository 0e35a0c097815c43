using AsrService.Grpc;
using AsrService.Grpc.Client;

namespace Grpc.Health.V1;

/// <summary>
/// Server base, binder and client for grpc.health.v1.Health, written in the shape Grpc.Tools generates
/// (<c>Health.HealthBase</c>, <c>Health.BindService</c>, <c>Health.HealthClient</c>), so that code using it moves to
/// Grpc.AspNetCore by swapping namespaces.
/// </summary>
public static partial class Health
{
    /// <summary>Full name of the service.</summary>
    public const string ServiceName = "grpc.health.v1.Health";

    internal const string CheckMethod = "/" + ServiceName + "/Check";
    internal const string WatchMethod = "/" + ServiceName + "/Watch";

    /// <summary>Registers an implementation's methods.</summary>
    public static void BindService(GrpcServiceRegistry registry, HealthBase serviceImpl)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(serviceImpl);
        registry.AddFileDescriptor(HealthReflection.Descriptor);
        registry.AddUnary<HealthCheckRequest, HealthCheckResponse>(CheckMethod, serviceImpl.Check);
        registry.AddServerStreaming<HealthCheckRequest, HealthCheckResponse>(WatchMethod, serviceImpl.Watch);
    }

    /// <summary>Base class of implementations; methods not overridden answer UNIMPLEMENTED.</summary>
    public abstract class HealthBase
    {
        /// <summary>Answers the current status of a service once.</summary>
        public virtual Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context) =>
            throw new RpcException(new Status(StatusCode.Unimplemented, string.Empty));

        /// <summary>Streams the status of a service: now, then on every change.</summary>
        public virtual Task Watch(
            HealthCheckRequest request,
            IServerStreamWriter<HealthCheckResponse> responseStream,
            ServerCallContext context) =>
            throw new RpcException(new Status(StatusCode.Unimplemented, string.Empty));
    }

    /// <summary>Client of grpc.health.v1.Health.</summary>
    public sealed class HealthClient
    {
        private readonly GrpcClientConnection _connection;

        /// <summary>Creates a client over a connection (which it does not own).</summary>
        public HealthClient(GrpcClientConnection connection)
        {
            ArgumentNullException.ThrowIfNull(connection);
            _connection = connection;
        }

        /// <summary>Asks for the current status of a service ("" = the whole server).</summary>
        public AsyncUnaryCall<HealthCheckResponse> CheckAsync(
            HealthCheckRequest request,
            Metadata? headers = null,
            DateTime? deadline = null,
            CancellationToken cancellationToken = default) =>
            CheckAsync(request, new CallOptions(headers, deadline, cancellationToken));

        /// <summary>Asks for the current status of a service ("" = the whole server).</summary>
        public AsyncUnaryCall<HealthCheckResponse> CheckAsync(HealthCheckRequest request, CallOptions options) =>
            _connection.UnaryAsync<HealthCheckRequest, HealthCheckResponse>(CheckMethod, request, options);

        /// <summary>Streams the status of a service: now, then on every change, until cancelled.</summary>
        public AsyncServerStreamingCall<HealthCheckResponse> Watch(
            HealthCheckRequest request,
            Metadata? headers = null,
            DateTime? deadline = null,
            CancellationToken cancellationToken = default) =>
            Watch(request, new CallOptions(headers, deadline, cancellationToken));

        /// <summary>Streams the status of a service: now, then on every change, until cancelled.</summary>
        public AsyncServerStreamingCall<HealthCheckResponse> Watch(HealthCheckRequest request, CallOptions options) =>
            _connection.ServerStreaming<HealthCheckRequest, HealthCheckResponse>(WatchMethod, request, options);
    }
}
