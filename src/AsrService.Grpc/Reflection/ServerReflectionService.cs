using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Reflection.V1Alpha;

namespace AsrService.Grpc.Reflection;

/// <summary>
/// grpc.reflection.v1alpha.ServerReflection over the registry: lists the registered services and answers with the
/// serialized FileDescriptorProtos that Grpc.Tools embedded in the generated code, so that grpcurl and similar tools
/// can call any method without having the .proto files.
/// </summary>
internal sealed class ServerReflectionService
{
    public const string ServiceName = "grpc.reflection.v1alpha.ServerReflection";
    public const string InfoMethod = "/" + ServiceName + "/ServerReflectionInfo";

    private readonly GrpcServiceRegistry _registry;

    private ServerReflectionService(GrpcServiceRegistry registry)
    {
        _registry = registry;
    }

    public static void Bind(GrpcServiceRegistry registry)
    {
        registry.AddFileDescriptor(ReflectionReflection.Descriptor);
        registry.AddDuplexStreaming<ServerReflectionRequest, ServerReflectionResponse>(
            InfoMethod,
            new ServerReflectionService(registry).ServerReflectionInfo);
    }

    private async Task ServerReflectionInfo(
        IAsyncStreamReader<ServerReflectionRequest> requestStream,
        IServerStreamWriter<ServerReflectionResponse> responseStream,
        ServerCallContext context)
    {
        // Built per call: services may be registered after start-up, and reflection calls are rare.
        var index = DescriptorIndex.Build(_registry.FileDescriptors);
        while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            var request = requestStream.Current;
            var response = Answer(request, index);
            response.ValidHost = request.Host;
            response.OriginalRequest = request;
            await responseStream.WriteAsync(response, context.CancellationToken).ConfigureAwait(false);
        }
    }

    private ServerReflectionResponse Answer(ServerReflectionRequest request, DescriptorIndex index)
    {
        switch (request.MessageRequestCase)
        {
            case ServerReflectionRequest.MessageRequestOneofCase.ListServices:
                var list = new ListServiceResponse();
                foreach (var name in _registry.ServiceNames)
                {
                    list.Service.Add(new ServiceResponse { Name = name });
                }

                return new ServerReflectionResponse { ListServicesResponse = list };

            case ServerReflectionRequest.MessageRequestOneofCase.FileByFilename:
                return index.Files.TryGetValue(request.FileByFilename, out var byName)
                    ? FileResponse(byName)
                    : Error(StatusCode.NotFound, $"File '{request.FileByFilename}' not found.");

            case ServerReflectionRequest.MessageRequestOneofCase.FileContainingSymbol:
                return index.Symbols.TryGetValue(request.FileContainingSymbol.TrimStart('.'), out var bySymbol)
                    ? FileResponse(bySymbol)
                    : Error(StatusCode.NotFound, $"Symbol '{request.FileContainingSymbol}' not found.");

            case ServerReflectionRequest.MessageRequestOneofCase.FileContainingExtension:
                var extension = request.FileContainingExtension;
                return index.Extensions.TryGetValue((extension.ContainingType.TrimStart('.'), extension.ExtensionNumber), out var byExtension)
                    ? FileResponse(byExtension)
                    : Error(StatusCode.NotFound, $"Extension {extension.ExtensionNumber} of '{extension.ContainingType}' not found.");

            case ServerReflectionRequest.MessageRequestOneofCase.AllExtensionNumbersOfType:
                var typeName = request.AllExtensionNumbersOfType.TrimStart('.');
                if (!index.MessageTypes.Contains(typeName))
                {
                    return Error(StatusCode.NotFound, $"Type '{request.AllExtensionNumbersOfType}' not found.");
                }

                var numbers = new ExtensionNumberResponse { BaseTypeName = typeName };
                foreach (var ((extendee, number), _) in index.Extensions)
                {
                    if (extendee == typeName)
                    {
                        numbers.ExtensionNumber.Add(number);
                    }
                }

                return new ServerReflectionResponse { AllExtensionNumbersResponse = numbers };

            default:
                return Error(StatusCode.Unimplemented, "Request type not supported by this server.");
        }
    }

    /// <summary>The file first, then its transitive dependencies, each once, as clients need them to build the file.</summary>
    private static ServerReflectionResponse FileResponse(FileDescriptor file)
    {
        var response = new FileDescriptorResponse();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Queue<FileDescriptor>();
        pending.Enqueue(file);
        while (pending.TryDequeue(out var next))
        {
            if (!seen.Add(next.Name))
            {
                continue;
            }

            response.FileDescriptorProto.Add(next.SerializedData);
            foreach (var dependency in next.Dependencies)
            {
                pending.Enqueue(dependency);
            }
        }

        return new ServerReflectionResponse { FileDescriptorResponse = response };
    }

    private static ServerReflectionResponse Error(StatusCode code, string message) =>
        new() { ErrorResponse = new ErrorResponse { ErrorCode = (int)code, ErrorMessage = message } };

    /// <summary>Every file reachable from the registered ones, and every symbol they define.</summary>
    private sealed class DescriptorIndex
    {
        public Dictionary<string, FileDescriptor> Files { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, FileDescriptor> Symbols { get; } = new(StringComparer.Ordinal);

        public HashSet<string> MessageTypes { get; } = new(StringComparer.Ordinal);

        public Dictionary<(string Extendee, int Number), FileDescriptor> Extensions { get; } = [];

        public static DescriptorIndex Build(IEnumerable<FileDescriptor> roots)
        {
            var index = new DescriptorIndex();
            var pending = new Stack<FileDescriptor>(roots);
            while (pending.TryPop(out var file))
            {
                if (!index.Files.TryAdd(file.Name, file))
                {
                    continue;
                }

                index.AddFile(file);
                foreach (var dependency in file.Dependencies)
                {
                    pending.Push(dependency);
                }
            }

            return index;
        }

        private void AddFile(FileDescriptor file)
        {
            foreach (var service in file.Services)
            {
                Symbols.TryAdd(service.FullName, file);
                foreach (var method in service.Methods)
                {
                    Symbols.TryAdd(method.FullName, file);
                }
            }

            foreach (var message in file.MessageTypes)
            {
                AddMessage(message, file);
            }

            foreach (var enumType in file.EnumTypes)
            {
                Symbols.TryAdd(enumType.FullName, file);
            }

            AddExtensions(file.Extensions.UnorderedExtensions, file);
        }

        private void AddMessage(MessageDescriptor message, FileDescriptor file)
        {
            Symbols.TryAdd(message.FullName, file);
            MessageTypes.Add(message.FullName);
            foreach (var field in message.Fields.InDeclarationOrder())
            {
                Symbols.TryAdd(field.FullName, file);
            }

            foreach (var nested in message.NestedTypes)
            {
                AddMessage(nested, file);
            }

            foreach (var enumType in message.EnumTypes)
            {
                Symbols.TryAdd(enumType.FullName, file);
            }

            AddExtensions(message.Extensions.UnorderedExtensions, file);
        }

        private void AddExtensions(IList<FieldDescriptor> extensions, FileDescriptor file)
        {
            foreach (var extension in extensions)
            {
                Symbols.TryAdd(extension.FullName, file);
                if (extension.ExtendeeType is { } extendee)
                {
                    Extensions.TryAdd((extendee.FullName, extension.FieldNumber), file);
                }
            }
        }
    }
}
