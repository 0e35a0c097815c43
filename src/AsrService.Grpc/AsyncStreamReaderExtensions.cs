using System.Runtime.CompilerServices;

namespace AsrService.Grpc;

/// <summary>Conveniences over <see cref="IAsyncStreamReader{T}"/>, as Grpc.Core offers them.</summary>
public static class AsyncStreamReaderExtensions
{
    /// <summary>Reads the next message without a cancellation token of its own (the call's still applies).</summary>
    public static Task<bool> MoveNext<T>(this IAsyncStreamReader<T> streamReader)
    {
        ArgumentNullException.ThrowIfNull(streamReader);
        return streamReader.MoveNext(CancellationToken.None);
    }

    /// <summary>Reads all remaining messages as an async sequence.</summary>
    public static async IAsyncEnumerable<T> ReadAllAsync<T>(
        this IAsyncStreamReader<T> streamReader,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streamReader);
        while (await streamReader.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            yield return streamReader.Current;
        }
    }
}
