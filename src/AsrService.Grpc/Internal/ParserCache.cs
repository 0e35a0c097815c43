using Google.Protobuf;

namespace AsrService.Grpc.Internal;

/// <summary>
/// One parser per message type, made once. Generated messages expose theirs as a static <c>Parser</c> property, which
/// generic code cannot reach; a parser built from the parameterless constructor behaves the same.
/// </summary>
internal static class ParserCache<T>
    where T : class, IMessage<T>, new()
{
    public static readonly MessageParser<T> Parser = new(static () => new T());
}
