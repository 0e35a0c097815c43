using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using AsrService.Grpc.Client;
using Google.Protobuf;

namespace AsrService.Grpc.Internal;

/// <summary>
/// One client call over HttpClient: builds the HTTP/2 request (headers, grpc-timeout, metadata), streams request
/// messages into it, reads response messages and finally the status from the trailers (or from the headers of a
/// trailers-only response), and turns cancellation, deadlines and transport failures into a status.
/// </summary>
/// <remarks>
/// The status is decided once (<see cref="Finish"/>); whatever happens afterwards reports that status. Cancelling the
/// call (token, deadline, Dispose, or a local protocol error) first fixes the status, then resets the HTTP/2 stream by
/// cancelling pending I/O and disposing the response, which the server sees as RST_STREAM(CANCEL).
/// </remarks>
internal sealed class GrpcCall<TRequest, TResponse> : IClientCall
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>, new()
{
    private const string UserAgent = "asrservice-grpc-dotnet/1.0";

    // CancelAfter takes at most int.MaxValue milliseconds (about 24.8 days); a deadline further out is never reached.
    private static readonly TimeSpan s_maxTimerDelay = TimeSpan.FromMilliseconds(int.MaxValue);
    private static readonly MediaTypeHeaderValue s_grpcContentType = new(GrpcProtocol.ContentType);

    private readonly GrpcClientConnection _connection;
    private readonly string _method;
    private readonly CallOptions _options;
    private readonly Lock _lock = new();

    // Never disposed on purpose: pending operations may still hold its token, and without a timer it owns nothing.
    private readonly CancellationTokenSource _callCts = new();
    private readonly TaskCompletionSource<Metadata> _responseHeaders = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _deadlineCts;
    private CancellationTokenRegistration _userCancellation;
    private TimeSpan? _timeout;
    private Task _responseStarted = Task.CompletedTask;
    private HttpResponseMessage? _response;
    private PipeReader? _responseReader;
    private string? _responseEncoding;
    private StreamingRequestContent? _requestContent;
    private ArrayBufferWriter<byte>? _writeBuffer;
    // A reference, written once under the lock: readers on other threads see all of it or nothing.
    private volatile Outcome? _outcome;

    /// <summary>How long a failed write waits for the response headers that may explain it.</summary>
    private static readonly TimeSpan s_statusAfterWriteFailure = TimeSpan.FromSeconds(2);
    private bool _requestCompleted;
    private bool _responseEnded;
    private int _readPending;
    private int _writePending;

    public GrpcCall(GrpcClientConnection connection, string method, CallOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        if (method[0] != '/')
        {
            throw new ArgumentException($"Method '{method}' must be a full path such as '/package.Service/Method'.", nameof(method));
        }

        _connection = connection;
        _method = method;
        _options = options;
    }

    public Task<Metadata> ResponseHeadersAsync => _responseHeaders.Task;

    public Status GetStatus() =>
        _outcome?.Status ?? throw new InvalidOperationException("The call has not finished yet.");

    public Metadata GetTrailers() =>
        _outcome?.Trailers ?? throw new InvalidOperationException("The call has not finished yet.");

    /// <summary>Starts a call whose request is one message (unary, server streaming).</summary>
    public void StartWithSingleRequest(TRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>();
        try
        {
            MessageFraming.WriteMessage(buffer, request, RequestEncoding, _connection.Options.RequestCompressionLevel, _connection.Options.MaxSendMessageSize);
        }
        catch (RpcException ex)
        {
            Finish(ex.Status, Metadata.Empty);
            return;
        }

        var content = new ByteArrayContent(buffer.WrittenSpan.ToArray());
        content.Headers.ContentType = s_grpcContentType;
        Start(content);
    }

    /// <summary>Starts a call whose requests are streamed (client streaming, duplex).</summary>
    public void StartStreaming()
    {
        _requestContent = new StreamingRequestContent();
        Start(_requestContent);
    }

    /// <summary>Reads the next response message; null at the end of an OK call; throws RpcException otherwise.</summary>
    public async Task<TResponse?> ReadMessageAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _readPending, 1) == 1)
        {
            throw new InvalidOperationException("Can't read the next message because the previous read is still in progress.");
        }

        try
        {
            using var linked = Link(cancellationToken, out var token);
            TResponse? message;
            try
            {
                // The response headers may still be on their way (a server sends them with its first message).
                await _responseStarted.WaitAsync(token).ConfigureAwait(false);
                var reader = _responseReader;
                if (reader is null || _responseEnded)
                {
                    return EndOfStream();
                }

                message = await MessageFraming.ReadMessageAsync(
                    reader,
                    ParserCache<TResponse>.Parser,
                    _responseEncoding,
                    _connection.Options.MaxReceiveMessageSize,
                    token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not RpcException || _outcome is null)
            {
                Abort(FailureStatus(ex, cancellationToken, "Error reading next message."));
                throw StatusException();
            }

            if (message is not null)
            {
                return message;
            }

            // The body ended: the trailers have arrived with it.
            _responseEnded = true;
            Finish(StatusFromTrailers(_response!.TrailingHeaders, out var trailers), trailers);
            return EndOfStream();
        }
        finally
        {
            Volatile.Write(ref _readPending, 0);
        }
    }

    /// <summary>Reads the one response of a unary call.</summary>
    public async Task<TResponse> ReadSingleResponseAsync()
    {
        var message = await ReadMessageAsync(CancellationToken.None).ConfigureAwait(false);
        if (message is null)
        {
            throw new RpcException(new Status(StatusCode.Internal, "Failed to deserialize response message: the server ended the call with OK but sent none."));
        }

        if (await ReadMessageAsync(CancellationToken.None).ConfigureAwait(false) is not null)
        {
            Abort(new Status(StatusCode.Internal, "The server sent more than one response message for a unary call."));
            throw StatusException();
        }

        return message;
    }

    public async Task WriteMessageAsync(TRequest message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var content = _requestContent ?? throw new InvalidOperationException("This call has no request stream.");
        if (Volatile.Read(ref _requestCompleted))
        {
            throw new InvalidOperationException("Can't write the message because the request stream has been completed.");
        }

        ThrowIfFinished();
        if (Interlocked.Exchange(ref _writePending, 1) == 1)
        {
            throw new InvalidOperationException("Can't write the message because the previous write is still in progress.");
        }

        try
        {
            var buffer = _writeBuffer ??= new ArrayBufferWriter<byte>();
            buffer.ResetWrittenCount();
            MessageFraming.WriteMessage(buffer, message, RequestEncoding, _connection.Options.RequestCompressionLevel, _connection.Options.MaxSendMessageSize);

            using var linked = Link(cancellationToken, out var token);
            try
            {
                var stream = await content.GetStreamAsync().WaitAsync(token).ConfigureAwait(false);
                await stream.WriteAsync(buffer.WrittenMemory, token).ConfigureAwait(false);
                await stream.FlushAsync(token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                if (_outcome is null && (cancellationToken.IsCancellationRequested || _callCts.IsCancellationRequested))
                {
                    Abort(FailureStatus(ex, cancellationToken, "Error writing request message."));
                }
                else if (_outcome is null)
                {
                    // A server that ends a call while the client is still sending (an admission limit, a bad first
                    // message) makes HTTP/2 cancel the request body under this write, often before the response
                    // headers that carry its status have been read. Wait for them, so that the caller sees the
                    // server's status rather than the cancelled I/O it caused.
                    await WaitForResponseHeadersAsync().ConfigureAwait(false);
                }

                // Otherwise the call is left running: when the server ended it, its status (read from the response
                // stream) explains the failure better than the I/O error does.
                throw _outcome is { } outcome
                    ? new RpcException(outcome.Status, outcome.Trailers)
                    : new RpcException(FailureStatus(ex, cancellationToken, "Error writing request message."));
            }
        }
        finally
        {
            Volatile.Write(ref _writePending, 0);
        }
    }

    /// <summary>Waits, briefly, until the response headers (and with a trailers-only response, the status) are in.</summary>
    private async Task WaitForResponseHeadersAsync()
    {
        try
        {
            await _responseStarted.WaitAsync(s_statusAfterWriteFailure).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The server did not answer: report the write's own failure.
        }
    }

    public Task CompleteRequestAsync()
    {
        Volatile.Write(ref _requestCompleted, true);
        _requestContent?.Complete();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        Abort(new Status(StatusCode.Cancelled, "Call canceled by the client."));
    }

    private string? RequestEncoding => _connection.Options.RequestCompression;

    private void Start(HttpContent content)
    {
        if (!StartCancellation())
        {
            content.Dispose();
            return;
        }

        GrpcClientLog.CallStarting(_connection.Logger, _method, _connection.Address);
        _responseStarted = SendAsync(CreateRequest(content));
    }

    /// <summary>Arms the deadline timer and the caller's token; false when the call is over before it began.</summary>
    private bool StartCancellation()
    {
        if (_options.Deadline is { } deadline && deadline != DateTime.MaxValue)
        {
            var utcDeadline = deadline.Kind == DateTimeKind.Local ? deadline.ToUniversalTime() : deadline;
            var timeout = utcDeadline - DateTime.UtcNow;
            if (timeout <= TimeSpan.Zero)
            {
                Finish(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"), Metadata.Empty);
                return false;
            }

            _timeout = timeout;
            if (timeout <= s_maxTimerDelay)
            {
                _deadlineCts = new CancellationTokenSource();
                _deadlineCts.Token.UnsafeRegister(static state => ((GrpcCall<TRequest, TResponse>)state!).Abort(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded")), this);
                _deadlineCts.CancelAfter(timeout);
            }
        }

        var token = _options.CancellationToken;
        if (token.IsCancellationRequested)
        {
            Finish(new Status(StatusCode.Cancelled, "Call canceled by the client."), Metadata.Empty);
            return false;
        }

        if (token.CanBeCanceled)
        {
            _userCancellation = token.UnsafeRegister(static state => ((GrpcCall<TRequest, TResponse>)state!).Abort(new Status(StatusCode.Cancelled, "Call canceled by the client.")), this);
        }

        return true;
    }

    private HttpRequestMessage CreateRequest(HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_connection.Address, _method))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        var headers = request.Headers;
        headers.TE.Add(new TransferCodingWithQualityHeaderValue(GrpcProtocol.TeTrailers));
        headers.TryAddWithoutValidation("user-agent", UserAgent);
        headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, GrpcProtocol.SupportedEncodings);
        if (GrpcCompression.IsCompressing(RequestEncoding))
        {
            headers.TryAddWithoutValidation(GrpcProtocol.EncodingHeader, RequestEncoding);
        }

        if (_timeout is { } timeout)
        {
            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcTimeout.Format(timeout));
        }

        if (_options.Headers is { } metadata)
        {
            foreach (var entry in metadata)
            {
                headers.TryAddWithoutValidation(entry.Key, entry.IsBinary ? Convert.ToBase64String(entry.ValueSpan) : entry.Value);
            }
        }

        return request;
    }

    private async Task SendAsync(HttpRequestMessage request)
    {
        HttpResponseMessage response;
        try
        {
            response = await _connection.HttpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _callCts.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Abort(FailureStatus(ex, CancellationToken.None, "Error starting gRPC call."));
            return;
        }

        lock (_lock)
        {
            if (_outcome is not null)
            {
                // Cancelled while the headers were on their way.
                response.Dispose();
                return;
            }

            _response = response;
        }

        var headers = ReadMetadata(response.Headers);
        _responseHeaders.TrySetResult(headers);
        if (StatusFromResponseHeaders(response) is { } status)
        {
            // Trailers-only response (or not a gRPC response at all): the status is all there is.
            Finish(status, headers);
            return;
        }

        _responseEncoding = response.Headers.TryGetValues(GrpcProtocol.EncodingHeader, out var encodings)
            ? encodings.FirstOrDefault()
            : null;
        if (!GrpcCompression.IsSupported(_responseEncoding))
        {
            Abort(new Status(StatusCode.Internal, $"The server used an unsupported grpc-encoding '{_responseEncoding}'."));
            return;
        }

        try
        {
            var stream = await response.Content.ReadAsStreamAsync(_callCts.Token).ConfigureAwait(false);
            _responseReader = PipeReader.Create(stream);
        }
        catch (Exception ex)
        {
            Abort(FailureStatus(ex, CancellationToken.None, "Error reading the response."));
        }
    }

    /// <summary>Fixes the call's status (first caller wins) and releases what the call holds.</summary>
    private void Finish(Status status, Metadata trailers)
    {
        lock (_lock)
        {
            if (_outcome is not null)
            {
                return;
            }

            _outcome = new Outcome(status, trailers);
        }

        GrpcClientLog.CallFinished(_connection.Logger, _method, status.StatusCode, status.Detail);
        if (status.StatusCode == StatusCode.OK)
        {
            _responseHeaders.TrySetResult(Metadata.Empty);
        }
        else
        {
            // Observed or not, a call that failed before its headers has no headers to give.
            _responseHeaders.TrySetException(new RpcException(status, trailers));
            _ = _responseHeaders.Task.Exception;
        }

        _userCancellation.Unregister();
        _deadlineCts?.Dispose();
        if (status.StatusCode == StatusCode.OK)
        {
            _requestContent?.Complete();
        }
        else
        {
            _callCts.Cancel();
            _requestContent?.Abort();
        }

        // Safe even for OK: the body has been read to its end (or there was none, in a trailers-only response).
        lock (_lock)
        {
            _response?.Dispose();
        }
    }

    /// <summary>Ends the call locally with a status, then resets the HTTP/2 stream.</summary>
    private void Abort(Status status) => Finish(status, Metadata.Empty);

    private TResponse? EndOfStream()
    {
        var status = _outcome?.Status ?? throw new InvalidOperationException("The call ended without a status.");
        return status.StatusCode == StatusCode.OK ? null : throw StatusException();
    }

    private RpcException StatusException() =>
        _outcome is { } outcome
            ? new RpcException(outcome.Status, outcome.Trailers)
            : new RpcException(new Status(StatusCode.Unknown, "The call failed."));

    private void ThrowIfFinished()
    {
        if (_outcome?.Status is { } status)
        {
            throw status.StatusCode == StatusCode.OK
                ? new InvalidOperationException("Can't write the message because the call is complete.")
                : StatusException();
        }
    }

    /// <summary>Explains a failed operation: our own cancellation first, then what the transport said.</summary>
    private Status FailureStatus(Exception exception, CancellationToken operationToken, string context)
    {
        if (_outcome?.Status is { } status)
        {
            return status;
        }

        if (exception is RpcException rpc)
        {
            return rpc.Status;
        }

        if (_deadlineCts?.IsCancellationRequested == true)
        {
            return new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        }

        if (_options.CancellationToken.IsCancellationRequested || operationToken.IsCancellationRequested || _callCts.IsCancellationRequested)
        {
            return new Status(StatusCode.Cancelled, "Call canceled by the client.");
        }

        for (var inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpProtocolException protocol)
            {
                return new Status(MapHttp2Error(protocol.ErrorCode), $"{context} HTTP/2 error {protocol.ErrorCode}: {protocol.Message}", exception);
            }
        }

        var code = exception is HttpRequestException or IOException ? StatusCode.Unavailable : StatusCode.Unknown;
        return new Status(code, $"{context} {exception.GetType().Name}: {exception.Message}", exception);
    }

    private IDisposable? Link(CancellationToken cancellationToken, out CancellationToken token)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            token = _callCts.Token;
            return null;
        }

        var linked = CancellationTokenSource.CreateLinkedTokenSource(_callCts.Token, cancellationToken);
        token = linked.Token;
        return linked;
    }

    /// <summary>The status a response's headers already decide: an HTTP error, a non-gRPC response, or trailers-only.</summary>
    private static Status? StatusFromResponseHeaders(HttpResponseMessage response)
    {
        var hasGrpcStatus = response.Headers.TryGetValues(GrpcProtocol.StatusHeader, out _);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return hasGrpcStatus
                ? ParseStatus(response.Headers)
                : new Status(MapHttpStatus(response.StatusCode), $"Bad gRPC response. HTTP status code: {(int)response.StatusCode}");
        }

        var contentType = response.Content.Headers.ContentType?.ToString();
        if (!GrpcProtocol.IsAnyGrpcContentType(contentType))
        {
            return new Status(StatusCode.Unknown, $"Bad gRPC response. Invalid content-type value: {contentType}");
        }

        return hasGrpcStatus ? ParseStatus(response.Headers) : null;
    }

    private static Status StatusFromTrailers(HttpResponseHeaders trailingHeaders, out Metadata trailers)
    {
        trailers = ReadMetadata(trailingHeaders);
        return trailingHeaders.TryGetValues(GrpcProtocol.StatusHeader, out _)
            ? ParseStatus(trailingHeaders)
            : new Status(StatusCode.Internal, "The server ended the response without a grpc-status trailer.");
    }

    private static Status ParseStatus(HttpHeaders headers)
    {
        var codeText = headers.TryGetValues(GrpcProtocol.StatusHeader, out var codes) ? codes.FirstOrDefault() : null;
        if (!int.TryParse(codeText, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
        {
            return new Status(StatusCode.Unknown, $"The server sent an invalid grpc-status '{codeText}'.");
        }

        var message = headers.TryGetValues(GrpcProtocol.MessageHeader, out var messages) ? messages.FirstOrDefault() : null;
        return new Status((StatusCode)code, message is null ? string.Empty : PercentEncoding.Decode(message));
    }

    private static Metadata ReadMetadata(HttpHeaders headers)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in headers.NonValidated)
        {
            if (GrpcProtocol.IsReservedHeader(name))
            {
                continue;
            }

            foreach (var value in values)
            {
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
                    // Not representable as gRPC metadata (e.g. a standard HTTP header with odd characters): skip it.
                }
            }
        }

        return metadata;
    }

    /// <summary>The gRPC spec's mapping for responses that are HTTP errors rather than gRPC responses.</summary>
    private static StatusCode MapHttpStatus(HttpStatusCode code) => code switch
    {
        HttpStatusCode.BadRequest => StatusCode.Internal,
        HttpStatusCode.Unauthorized => StatusCode.Unauthenticated,
        HttpStatusCode.Forbidden => StatusCode.PermissionDenied,
        HttpStatusCode.NotFound => StatusCode.Unimplemented,
        HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };

    /// <summary>The gRPC spec's mapping of HTTP/2 RST_STREAM and GOAWAY error codes.</summary>
    private static StatusCode MapHttp2Error(long errorCode) => errorCode switch
    {
        0x7 => StatusCode.Unavailable, // REFUSED_STREAM: never processed, safe to retry
        0x8 => StatusCode.Cancelled, // CANCEL
        0xB => StatusCode.ResourceExhausted, // ENHANCE_YOUR_CALM
        0xC => StatusCode.PermissionDenied, // INADEQUATE_SECURITY
        _ => StatusCode.Internal,
    };

    private sealed record Outcome(Status Status, Metadata Trailers);
}
