using AsrService.Grpc.Client;

namespace AsrService.Grpc.V1;

/// <summary>
/// Server base, binder and client for asr.v1.Asr, written in the shape Grpc.Tools generates (<c>Asr.AsrBase</c>,
/// <c>Asr.BindService</c>, <c>Asr.AsrClient</c>). A service implementation derives from <see cref="AsrBase"/>; moving to
/// Grpc.AspNetCore later means deleting this file, generating the real one, and changing <c>using</c> lines.
/// </summary>
public static partial class Asr
{
    /// <summary>Full name of the service.</summary>
    public const string ServiceName = "asr.v1.Asr";

    internal const string StreamingRecognizeMethod = "/" + ServiceName + "/StreamingRecognize";
    internal const string RecognizeMethod = "/" + ServiceName + "/Recognize";
    internal const string ListModelsMethod = "/" + ServiceName + "/ListModels";

    /// <summary>Registers an implementation's methods.</summary>
    public static void BindService(GrpcServiceRegistry registry, AsrBase serviceImpl)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(serviceImpl);
        registry.AddFileDescriptor(AsrReflection.Descriptor);
        registry.AddDuplexStreaming<StreamingRecognizeRequest, StreamingRecognizeResponse>(StreamingRecognizeMethod, serviceImpl.StreamingRecognize);
        registry.AddUnary<RecognizeRequest, RecognizeResponse>(RecognizeMethod, serviceImpl.Recognize);
        registry.AddUnary<ListModelsRequest, ListModelsResponse>(ListModelsMethod, serviceImpl.ListModels);
    }

    /// <summary>Base class of implementations; methods not overridden answer UNIMPLEMENTED.</summary>
    public abstract class AsrBase
    {
        /// <summary>Recognizes audio streamed in chunks; see asr.proto.</summary>
        public virtual Task StreamingRecognize(
            IAsyncStreamReader<StreamingRecognizeRequest> requestStream,
            IServerStreamWriter<StreamingRecognizeResponse> responseStream,
            ServerCallContext context) =>
            throw new RpcException(new Status(StatusCode.Unimplemented, string.Empty));

        /// <summary>Recognizes a whole recording; see asr.proto.</summary>
        public virtual Task<RecognizeResponse> Recognize(RecognizeRequest request, ServerCallContext context) =>
            throw new RpcException(new Status(StatusCode.Unimplemented, string.Empty));

        /// <summary>Lists the models the server can use; see asr.proto.</summary>
        public virtual Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context) =>
            throw new RpcException(new Status(StatusCode.Unimplemented, string.Empty));
    }

    /// <summary>Client of asr.v1.Asr.</summary>
    public sealed class AsrClient
    {
        private readonly GrpcClientConnection _connection;

        /// <summary>Creates a client over a connection (which it does not own).</summary>
        public AsrClient(GrpcClientConnection connection)
        {
            ArgumentNullException.ThrowIfNull(connection);
            _connection = connection;
        }

        /// <summary>
        /// Starts a streaming recognition: write a config-only request, then audio requests, then complete the request
        /// stream; read results from the response stream until it ends.
        /// </summary>
        public AsyncDuplexStreamingCall<StreamingRecognizeRequest, StreamingRecognizeResponse> StreamingRecognize(
            Metadata? headers = null,
            DateTime? deadline = null,
            CancellationToken cancellationToken = default) =>
            StreamingRecognize(new CallOptions(headers, deadline, cancellationToken));

        /// <summary>Starts a streaming recognition.</summary>
        public AsyncDuplexStreamingCall<StreamingRecognizeRequest, StreamingRecognizeResponse> StreamingRecognize(CallOptions options) =>
            _connection.DuplexStreaming<StreamingRecognizeRequest, StreamingRecognizeResponse>(StreamingRecognizeMethod, options);

        /// <summary>Recognizes a whole recording.</summary>
        public AsyncUnaryCall<RecognizeResponse> RecognizeAsync(
            RecognizeRequest request,
            Metadata? headers = null,
            DateTime? deadline = null,
            CancellationToken cancellationToken = default) =>
            RecognizeAsync(request, new CallOptions(headers, deadline, cancellationToken));

        /// <summary>Recognizes a whole recording.</summary>
        public AsyncUnaryCall<RecognizeResponse> RecognizeAsync(RecognizeRequest request, CallOptions options) =>
            _connection.UnaryAsync<RecognizeRequest, RecognizeResponse>(RecognizeMethod, request, options);

        /// <summary>Lists the models the server can use.</summary>
        public AsyncUnaryCall<ListModelsResponse> ListModelsAsync(
            ListModelsRequest request,
            Metadata? headers = null,
            DateTime? deadline = null,
            CancellationToken cancellationToken = default) =>
            ListModelsAsync(request, new CallOptions(headers, deadline, cancellationToken));

        /// <summary>Lists the models the server can use.</summary>
        public AsyncUnaryCall<ListModelsResponse> ListModelsAsync(ListModelsRequest request, CallOptions options) =>
            _connection.UnaryAsync<ListModelsRequest, ListModelsResponse>(ListModelsMethod, request, options);
    }
}
