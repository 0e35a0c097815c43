using AsrService.Core.Pipeline;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using Microsoft.Extensions.DependencyInjection;

namespace AsrService.Server;

/// <summary>Composes the gRPC host: transport, health, reflection and the asr.v1 service over loaded models.</summary>
public static class AsrServerHost
{
    public static GrpcServer Build(
        ISpeechRecognizer recognizer,
        IVoiceActivityModel voiceActivity,
        AsrServiceOptions options,
        IEnumerable<GrpcEndpointOptions> endpoints,
        Action<GrpcServerOptions>? configureTransport = null,
        string[]? args = null)
    {
        var builder = GrpcServerBuilder.Create(args);
        foreach (var endpoint in endpoints)
        {
            builder.Listen(endpoint);
        }

        if (configureTransport is not null)
        {
            builder.ConfigureTransport(configureTransport);
        }

        builder.Services.AddSingleton(recognizer);
        builder.Services.AddSingleton(voiceActivity);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(new DecodeScheduler(options.ConcurrentDecodes > 0
            ? options.ConcurrentDecodes
            : Math.Max(1, Environment.ProcessorCount / Math.Max(1, recognizer.IntraOpThreads))));
        builder.Services.AddSingleton<AsrGrpcService>();
        var server = builder.Build();
        Asr.BindService(server.Registry, server.Services.GetRequiredService<AsrGrpcService>());
        return server;
    }
}
