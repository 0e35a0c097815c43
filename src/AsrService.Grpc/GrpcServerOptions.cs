using System.IO.Compression;

namespace AsrService.Grpc;

/// <summary>Behaviour of the gRPC transport on the server side; bound with <c>AddGrpcTransport</c>.</summary>
public sealed class GrpcServerOptions
{
    /// <summary>
    /// Largest request message accepted, in bytes (after decompression); larger ones end the call with
    /// RESOURCE_EXHAUSTED. Null means no limit. Default 4 MiB, as in other gRPC servers.
    /// </summary>
    public int? MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Largest response message sent, in bytes (before compression); writing a larger one throws RESOURCE_EXHAUSTED to
    /// the handler. Null (the default) means no limit.
    /// </summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>
    /// Compression for response messages ("gzip" or "deflate"), used only with clients whose grpc-accept-encoding lists
    /// it. Null (the default) sends messages uncompressed: audio results are small and latency matters more.
    /// </summary>
    public string? ResponseCompressionAlgorithm { get; set; }

    /// <summary>Compression level when responses are compressed.</summary>
    public CompressionLevel ResponseCompressionLevel { get; set; } = CompressionLevel.Fastest;

    /// <summary>
    /// Whether INTERNAL statuses caused by unhandled exceptions carry the exception's type and message. Off by default:
    /// exception text can leak internals to clients. Turn on for development.
    /// </summary>
    public bool EnableDetailedErrors { get; set; }

    /// <summary>Whether to serve grpc.health.v1.Health. Default on.</summary>
    public bool EnableHealthService { get; set; } = true;

    /// <summary>Whether to serve grpc.reflection.v1alpha.ServerReflection (for grpcurl and similar tools). Default on.</summary>
    public bool EnableReflection { get; set; } = true;

    /// <summary>
    /// Whether every health status turns NOT_SERVING (and Watch calls end) when the host begins to stop, so that load
    /// balancers drain this instance while in-flight calls finish. Default on.
    /// </summary>
    public bool SetNotServingOnShutdown { get; set; } = true;

    internal IEnumerable<string> Validate()
    {
        if (MaxReceiveMessageSize is <= 0)
        {
            yield return $"{nameof(MaxReceiveMessageSize)} must be positive or null.";
        }

        if (MaxSendMessageSize is <= 0)
        {
            yield return $"{nameof(MaxSendMessageSize)} must be positive or null.";
        }

        if (ResponseCompressionAlgorithm is { } algorithm
            && !algorithm.Equals("gzip", StringComparison.OrdinalIgnoreCase)
            && !algorithm.Equals("deflate", StringComparison.OrdinalIgnoreCase)
            && !algorithm.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            yield return $"{nameof(ResponseCompressionAlgorithm)} '{algorithm}' is not one of gzip, deflate, identity.";
        }
    }
}
