using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace AsrService.Grpc.Internal;

/// <summary>
/// One gRPC call over one Kestrel HTTP/2 stream: reads request messages from the request body, writes response
/// messages to the response body, runs the deadline, maps handler outcomes to a status, and sends that status in
/// trailers (or, when nothing was sent yet, as a trailers-only response).
/// </summary>
/// <remarks>
/// Writes and the final status share one lock, so that a deadline firing while the handler writes cannot interleave
/// bytes; after the status is sent, further writes fail. The call's token combines the client's abort
/// (<see cref="HttpContext.RequestAborted"/>, raised by RST_STREAM or a lost connection) with the deadline.
/// </remarks>
internal sealed class HttpServerCall : ServerCallContext, IDisposable
{
    // CancelAfter takes at most int.MaxValue milliseconds (about 24.8 days); a deadline further out is never reached.
    private static readonly TimeSpan s_maxTimerDelay = TimeSpan.FromMilliseconds(int.MaxValue);

    private readonly HttpContext _httpContext;
    private readonly ServerMethod _method;
    private readonly GrpcServerOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _responseLock = new(1, 1);
    private readonly TaskCompletionSource _deadlineReached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private CancellationTokenSource? _deadlineCts;
    private CancellationTokenSource? _callCts;
    private string? _requestEncoding;
    private string? _responseEncoding;
    private Metadata? _requestHeaders;
    private Metadata? _responseTrailers;
    private Dictionary<object, object>? _userState;
    private DateTime _deadline = DateTime.MaxValue;
    private Status _status = Status.DefaultSuccess;
    private bool _responseEnded;
    private int _readPending;

    public HttpServerCall(HttpContext httpContext, ServerMethod method, GrpcServerOptions options, ILogger logger)
    {
        _httpContext = httpContext;
        _method = method;
        _options = options;
        _logger = logger;
    }

    public HttpContext HttpContext => _httpContext;

    public override string Method => _method.Path;

    public override string Host => _httpContext.Request.Host.Value ?? string.Empty;

    public override string Peer => FormatPeer(_httpContext.Connection);

    public override DateTime Deadline => _deadline;

    public override Metadata RequestHeaders => _requestHeaders ??= ReadRequestHeaders(_httpContext.Request.Headers);

    public override CancellationToken CancellationToken => _callCts?.Token ?? _httpContext.RequestAborted;

    public override Metadata ResponseTrailers => _responseTrailers ??= [];

    public override Status Status
    {
        get => _status;
        set => _status = value;
    }

    public override IDictionary<object, object> UserState => _userState ??= [];

    /// <summary>Runs the whole call; never throws for anything the handler does.</summary>
    public async Task ProcessAsync()
    {
        if (Initialize() is { } rejection)
        {
            await EndCallAsync(rejection).ConfigureAwait(false);
            return;
        }

        GrpcServerLog.CallStarted(_logger, Method, Peer, _deadline);
        var handlerTask = RunHandlerAsync();
        if (_deadlineCts is not null)
        {
            var first = await Task.WhenAny(handlerTask, _deadlineReached.Task).ConfigureAwait(false);
            if (first != handlerTask)
            {
                // Tell the client now rather than when a handler that ignores its token gets round to returning; then
                // still wait for the handler, which must not outlive the HttpContext it uses.
                GrpcServerLog.DeadlineExceeded(_logger, Method);
                await EndCallAsync(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded")).ConfigureAwait(false);
                await handlerTask.ConfigureAwait(false);
                return;
            }
        }

        await EndCallAsync(await handlerTask.ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <summary>Reads the next request message, or null at the end of the request stream.</summary>
    public async Task<T?> ReadMessageAsync<T>(MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        if (Interlocked.Exchange(ref _readPending, 1) == 1)
        {
            throw new InvalidOperationException("Can't read the next message because the previous read is still in progress.");
        }

        try
        {
            using var linked = Link(cancellationToken, out var token);
            return await MessageFraming.ReadMessageAsync(
                _httpContext.Request.BodyReader,
                parser,
                _requestEncoding,
                _options.MaxReceiveMessageSize,
                token).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _readPending, 0);
        }
    }

    /// <summary>Reads the one request message of a unary or server-streaming call, and checks that no other follows.</summary>
    public async Task<T> ReadSingleMessageAsync<T>(MessageParser<T> parser)
        where T : class, IMessage<T>
    {
        var message = await ReadMessageAsync(parser, CancellationToken.None).ConfigureAwait(false)
            ?? throw new RpcException(new Status(StatusCode.Internal, "Request did not include a message."));
        if (await ReadMessageAsync(parser, CancellationToken.None).ConfigureAwait(false) is not null)
        {
            throw new RpcException(new Status(StatusCode.Internal, "Request included more than one message for a method that takes one."));
        }

        return message;
    }

    /// <summary>Writes one response message and flushes it, so that streamed results reach the client at once.</summary>
    public async Task WriteMessageAsync<T>(T message, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        using var linked = Link(cancellationToken, out var token);
        await _responseLock.WaitAsync(token).ConfigureAwait(false);
        try
        {
            if (_responseEnded)
            {
                throw new InvalidOperationException("Can't write the message because the call is complete.");
            }

            var writer = _httpContext.Response.BodyWriter;
            MessageFraming.WriteMessage(writer, message, _responseEncoding, _options.ResponseCompressionLevel, _options.MaxSendMessageSize);
            var result = await writer.FlushAsync(token).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                throw new OperationCanceledException(token);
            }
        }
        finally
        {
            _responseLock.Release();
        }
    }

    public override async Task WriteResponseHeadersAsync(Metadata responseHeaders)
    {
        ArgumentNullException.ThrowIfNull(responseHeaders);
        var token = CancellationToken;
        await _responseLock.WaitAsync(token).ConfigureAwait(false);
        try
        {
            if (_responseEnded || _httpContext.Response.HasStarted)
            {
                throw new InvalidOperationException("Response headers can only be sent once per call, before the first message.");
            }

            AddMetadata(_httpContext.Response.Headers, responseHeaders);
            await _httpContext.Response.BodyWriter.FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            _responseLock.Release();
        }
    }

    public void Dispose()
    {
        _callCts?.Dispose();
        _deadlineCts?.Dispose();
        _responseLock.Dispose();
    }

    /// <summary>Reads the transport headers and prepares the response; returns a status when the call must not run.</summary>
    private Status? Initialize()
    {
        var request = _httpContext.Request;
        var response = _httpContext.Response;

        // A stream of audio can run for hours and pause for seconds: Kestrel's defaults (30 MB per request body, a
        // minimum upload rate) are meant for ordinary uploads and would cut such calls off.
        if (_httpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } maxBodySize)
        {
            maxBodySize.MaxRequestBodySize = null;
        }

        if (_httpContext.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } minDataRate)
        {
            minDataRate.MinDataRate = null;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcProtocol.SupportedEncodings;

        if (request.Headers.TryGetValue(GrpcProtocol.TimeoutHeader, out var timeoutValue))
        {
            if (GrpcTimeout.TryParse(timeoutValue.ToString(), out var timeout))
            {
                StartDeadline(timeout);
            }
            else
            {
                GrpcServerLog.InvalidTimeout(_logger, timeoutValue.ToString(), Method);
            }
        }

        _callCts = _deadlineCts is null
            ? CancellationTokenSource.CreateLinkedTokenSource(_httpContext.RequestAborted)
            : CancellationTokenSource.CreateLinkedTokenSource(_httpContext.RequestAborted, _deadlineCts.Token);

        var encoding = request.Headers[GrpcProtocol.EncodingHeader].ToString();
        if (encoding.Length > 0)
        {
            if (!GrpcCompression.IsSupported(encoding))
            {
                GrpcServerLog.UnsupportedEncoding(_logger, encoding, Method);
                return new Status(
                    StatusCode.Unimplemented,
                    $"Unsupported grpc-encoding value '{encoding}'. Supported encodings: {GrpcProtocol.SupportedEncodings}");
            }

            _requestEncoding = encoding;
        }

        if (GrpcCompression.IsCompressing(_options.ResponseCompressionAlgorithm)
            && GrpcCompression.IsAccepted(request.Headers[GrpcProtocol.AcceptEncodingHeader].ToString(), _options.ResponseCompressionAlgorithm!))
        {
            _responseEncoding = _options.ResponseCompressionAlgorithm;
            response.Headers[GrpcProtocol.EncodingHeader] = _responseEncoding;
        }

        return null;
    }

    private void StartDeadline(TimeSpan timeout)
    {
        _deadline = DateTime.UtcNow.Add(timeout);
        if (timeout > s_maxTimerDelay)
        {
            return;
        }

        _deadlineCts = new CancellationTokenSource();
        _deadlineCts.Token.UnsafeRegister(static state => ((HttpServerCall)state!)._deadlineReached.TrySetResult(), this);
        _deadlineCts.CancelAfter(timeout);
    }

    private async Task<Status> RunHandlerAsync()
    {
        try
        {
            await _method.InvokeAsync(this).ConfigureAwait(false);
            return _status;
        }
        catch (Exception) when (_deadlineCts?.IsCancellationRequested == true)
        {
            return new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        }
        catch (Exception) when (_httpContext.RequestAborted.IsCancellationRequested)
        {
            GrpcServerLog.CancelledByClient(_logger, Method);
            return new Status(StatusCode.Cancelled, "Call canceled by the client.");
        }
        catch (RpcException ex)
        {
            foreach (var entry in ex.Trailers)
            {
                ResponseTrailers.Add(entry);
            }

            return ex.Status;
        }
        catch (Exception ex)
        {
            GrpcServerLog.HandlerFailed(_logger, Method, ex);
            var detail = _options.EnableDetailedErrors
                ? $"Exception was thrown by handler. {ex.GetType().Name}: {ex.Message}"
                : "Exception was thrown by handler.";
            return new Status(StatusCode.Internal, detail, ex);
        }
    }

    /// <summary>Sends the status once; later calls (and later writes) find the call ended.</summary>
    private async Task EndCallAsync(Status status)
    {
        await _responseLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_responseEnded)
            {
                return;
            }

            _responseEnded = true;
            GrpcServerLog.CallEnded(_logger, Method, status.StatusCode, Stopwatch.GetElapsedTime(_startTimestamp).TotalMilliseconds, status.Detail);
            if (_httpContext.RequestAborted.IsCancellationRequested)
            {
                // The stream was reset: there is nobody to tell.
                return;
            }

            var response = _httpContext.Response;
            var code = ((int)status.StatusCode).ToString(CultureInfo.InvariantCulture);
            var message = status.Detail.Length > 0 ? PercentEncoding.Encode(status.Detail) : null;
            if (!response.HasStarted)
            {
                // Trailers-only: nothing was sent, so the status goes in the one HEADERS frame that ends the stream.
                response.Headers[GrpcProtocol.StatusHeader] = code;
                if (message is not null)
                {
                    response.Headers[GrpcProtocol.MessageHeader] = message;
                }

                if (_responseTrailers is not null)
                {
                    AddMetadata(response.Headers, _responseTrailers);
                }
            }
            else
            {
                response.AppendTrailer(GrpcProtocol.StatusHeader, code);
                if (message is not null)
                {
                    response.AppendTrailer(GrpcProtocol.MessageHeader, message);
                }

                if (_responseTrailers is not null)
                {
                    foreach (var entry in _responseTrailers)
                    {
                        response.AppendTrailer(entry.Key, FormatValue(entry));
                    }
                }
            }

            // End the HTTP/2 stream now: after a deadline the handler may still be running.
            await response.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            GrpcServerLog.StatusNotSent(_logger, Method, ex);
        }
        finally
        {
            _responseLock.Release();
        }
    }

    private IDisposable? Link(CancellationToken cancellationToken, out CancellationToken token)
    {
        var callToken = CancellationToken;
        if (!cancellationToken.CanBeCanceled || cancellationToken == callToken)
        {
            token = callToken;
            return null;
        }

        var linked = CancellationTokenSource.CreateLinkedTokenSource(callToken, cancellationToken);
        token = linked.Token;
        return linked;
    }

    private static Metadata ReadRequestHeaders(IHeaderDictionary headers)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in headers)
        {
            if (GrpcProtocol.IsReservedHeader(name))
            {
                continue;
            }

            foreach (var value in values)
            {
                if (value is null)
                {
                    continue;
                }

                try
                {
                    if (Metadata.Entry.IsBinaryKey(name))
                    {
                        metadata.Add(name, Base64.DecodeLenient(value));
                    }
                    else
                    {
                        metadata.Add(name, value);
                    }
                }
                catch (Exception ex) when (ex is ArgumentException or FormatException)
                {
                    // A header our Metadata cannot represent (odd key or value characters) is not gRPC metadata; skip it.
                }
            }
        }

        return metadata;
    }

    private static void AddMetadata(IHeaderDictionary headers, Metadata metadata)
    {
        foreach (var entry in metadata)
        {
            headers.Append(entry.Key, FormatValue(entry));
        }
    }

    private static string FormatValue(Metadata.Entry entry) =>
        entry.IsBinary ? Convert.ToBase64String(entry.ValueSpan) : entry.Value;

    private static string FormatPeer(ConnectionInfo connection)
    {
        var address = connection.RemoteIpAddress;
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6
            ? $"ipv6:[{address}]:{connection.RemotePort}"
            : $"ipv4:{address}:{connection.RemotePort}";
    }
}
