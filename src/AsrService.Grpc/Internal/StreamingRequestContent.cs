using System.Net;
using System.Net.Http.Headers;

namespace AsrService.Grpc.Internal;

/// <summary>
/// The request body of a streaming call. HttpClient hands us the HTTP/2 request stream when it starts sending the
/// body; writers then push frames into it as messages are produced, and the body (and so the client's half of the
/// stream) ends when the call completes the request stream.
/// </summary>
internal sealed class StreamingRequestContent : HttpContent
{
    private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StreamingRequestContent()
    {
        Headers.ContentType = new MediaTypeHeaderValue(GrpcProtocol.ContentType);
    }

    /// <summary>The request stream, once HttpClient has started sending the body.</summary>
    public Task<Stream> GetStreamAsync() => _stream.Task;

    /// <summary>Ends the request body normally (END_STREAM).</summary>
    public void Complete() => _completed.TrySetResult();

    /// <summary>Fails the request body, which makes HttpClient reset the HTTP/2 stream.</summary>
    public void Abort()
    {
        _stream.TrySetCanceled();
        _completed.TrySetCanceled();
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        _stream.TrySetResult(stream);
        try
        {
            await _completed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !_completed.Task.IsCanceled)
        {
            // HttpClient cancelled the body, not us: the server has ended the stream (its response carries the
            // call's status; an admission limit answers before reading), or the request itself was cancelled, which
            // HttpClient reports on its own. Throwing here would make HttpClient fail the request with this
            // cancellation instead of returning the server's response, whenever the body ends first.
        }
    }

    // No Content-Length: the body's size is unknown until the call ends.
    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}
