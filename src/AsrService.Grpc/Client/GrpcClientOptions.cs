using System.IO.Compression;
using Microsoft.Extensions.Logging;

namespace AsrService.Grpc.Client;

/// <summary>Settings of a <see cref="GrpcClientConnection"/>.</summary>
public sealed class GrpcClientOptions
{
    /// <summary>Largest response message accepted, in bytes; larger ones fail the call with RESOURCE_EXHAUSTED. Null for no limit. Default 4 MiB.</summary>
    public int? MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest request message sent, in bytes; writing a larger one throws RESOURCE_EXHAUSTED. Null (default) for no limit.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>Compression of request messages: "gzip", "deflate", or null (default) for none.</summary>
    public string? RequestCompression { get; set; }

    /// <summary>Compression level when requests are compressed.</summary>
    public CompressionLevel RequestCompressionLevel { get; set; } = CompressionLevel.Fastest;

    /// <summary>
    /// The HTTP handler to send calls through, e.g. a <see cref="SocketsHttpHandler"/> with custom TLS validation.
    /// Null (default) creates a <see cref="SocketsHttpHandler"/> suited to long-lived HTTP/2 streams.
    /// </summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>Whether disposing the connection disposes <see cref="HttpHandler"/>. Default true.</summary>
    public bool DisposeHttpHandler { get; set; } = true;

    /// <summary>Where client logs go; null for nowhere.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }
}
