using System.CommandLine;
using AsrService.Grpc;
using AsrService.Server;

namespace AsrService.Cli.Commands;

/// <summary><c>asr serve</c>: the gRPC recognition server.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var host = new Option<string>("--host") { Description = "Address to listen on (0.0.0.0 for every interface).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port", "-p") { Description = "Port to listen on (0 picks a free one).", DefaultValueFactory = _ => 50051 };
        var certificate = new Option<string?>("--tls-cert") { Description = "TLS certificate (PEM or PFX); enables TLS with ALPN h2." };
        var key = new Option<string?>("--tls-key") { Description = "Private key (PEM) of --tls-cert." };
        var maxStreams = new Option<int>("--max-streams") { Description = "Calls decoded at once; more get RESOURCE_EXHAUSTED.", DefaultValueFactory = _ => new AsrServiceOptions().MaxConcurrentStreams };
        var decodes = new Option<int>("--concurrent-decodes") { Description = "Decodes run at once (0: cores / threads per run); more finals wait, more interims are skipped.", DefaultValueFactory = _ => 0 };
        var maxMessage = new Option<int>("--max-message-bytes") { Description = "Largest request message accepted.", DefaultValueFactory = _ => 4 * 1024 * 1024 };

        var command = new Command("serve", "Run the gRPC recognition server (asr.v1.Asr, grpc.health.v1, server reflection).")
        {
            host, port, certificate, key, maxStreams, decodes, maxMessage,
        };
        var engineOptions = EngineOptions.AddTo(command, streaming: true);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = engineOptions.Bind(parse);
            var endpoint = new GrpcEndpointOptions
            {
                Host = parse.GetRequiredValue(host),
                Port = parse.GetValue(port),
                CertificatePath = parse.GetValue(certificate),
                CertificateKeyPath = parse.GetValue(key),
            };
            var serviceOptions = new AsrServiceOptions { MaxConcurrentStreams = parse.GetValue(maxStreams), ConcurrentDecodes = parse.GetValue(decodes) };
            var maxMessageBytes = parse.GetValue(maxMessage);

            using var engine = Engine.Load(settings, cancellationToken);
            await using var server = AsrServerHost.Build(
                engine.Recognizer, engine.VoiceActivity, serviceOptions, [endpoint],
                transport => transport.MaxReceiveMessageSize = maxMessageBytes);
            await server.StartAsync(cancellationToken);
            foreach (var address in server.Addresses)
            {
                Console.Error.WriteLine($"asr: listening on {address}");
            }

            Console.Error.WriteLine(
                $"asr: model {engine.Recognizer.ModelName} on {engine.Recognizer.ExecutionProvider}, {settings.Inference.IntraOpThreads} threads per run, at most {serviceOptions.MaxConcurrentStreams} streams");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C or SIGTERM: stop accepting calls and let the host finish the open ones.
            }

            await server.StopAsync(CancellationToken.None);
            return ExitCodes.Success;
        });
        return command;
    }
}
