namespace AsrService.Grpc;

/// <summary>Writes the messages of a stream (shaped like Grpc.Core's interface of the same name).</summary>
public interface IAsyncStreamWriter<in T>
{
    /// <summary>Writes a message using the call's own cancellation. Only one write may be pending at a time.</summary>
    Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

    /// <summary>
    /// Writes a message; completes once the message was handed to the transport (which applies HTTP/2 flow control, so
    /// a slow reader slows the writer down). Only one write may be pending at a time.
    /// </summary>
    Task WriteAsync(T message, CancellationToken cancellationToken);
}

/// <summary>The response stream of a server-streaming or duplex call, as its handler sees it.</summary>
public interface IServerStreamWriter<in T> : IAsyncStreamWriter<T>
{
}

/// <summary>The request stream of a client-streaming or duplex call, as the client sees it.</summary>
public interface IClientStreamWriter<in T> : IAsyncStreamWriter<T>
{
    /// <summary>Half-closes the request stream: tells the server no more messages will come.</summary>
    Task CompleteAsync();
}
