using System.CommandLine;
using AsrService.Core.Audio;
using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Grpc.V1;
using Google.Protobuf;

namespace AsrService.Cli.Commands;

/// <summary>
/// <c>asr stream FILE|- --server HOST:PORT</c>: streams audio to a server as LINEAR16 16 kHz chunks and prints what
/// comes back: interim hypotheses rewritten in place on a terminal, final results as lines, or every response as a
/// JSON line.
/// </summary>
internal static class StreamCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "Audio file to stream ('-' for standard input)." };
        var server = new Option<string>("--server", "-s") { Description = "Server as HOST:PORT, or an http:// or https:// address.", DefaultValueFactory = _ => "127.0.0.1:50051" };
        var realtime = new Option<bool>("--realtime") { Description = "Send audio at the pace it would be spoken, as a live source does." };
        var chunkMs = new Option<int>("--chunk-ms") { Description = "Audio per request message, in milliseconds.", DefaultValueFactory = _ => 100 };
        var noInterim = new Option<bool>("--no-interim") { Description = "Ask for final results only." };
        var format = new Option<string>("--format", "-f") { Description = "text (interims in place, finals as lines) or json (one response per line).", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var model = new Option<string?>("--model", "-m") { Description = "Model to ask for (default: the server's)." };
        var apiKey = new Option<string?>("--api-key")
        {
            Description = "API key for a server that requires one, sent as 'authorization: Bearer KEY' (default: $ASR_API_KEY).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ASR_API_KEY"),
        };

        var command = new Command("stream", "Stream audio to an asr server and print transcripts as they arrive.")
        {
            file, server, realtime, chunkMs, noInterim, format, model, apiKey,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(
            parse.GetRequiredValue(file), parse.GetRequiredValue(server), parse.GetValue(realtime), parse.GetValue(chunkMs),
            !parse.GetValue(noInterim), parse.GetRequiredValue(format) == "json", parse.GetValue(model), parse.GetValue(apiKey), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(
        string file, string server, bool realtime, int chunkMs, bool interim, bool json, string? model, string? apiKey, CancellationToken cancellationToken)
    {
        if (chunkMs is < 10 or > 10_000)
        {
            return CliErrors.Usage("--chunk-ms must be between 10 and 10000");
        }

        using var audio = AudioFile.Open(file);
        using var connection = GrpcClientConnection.ForAddress(server);
        var client = new Asr.AsrClient(connection);
        var headers = string.IsNullOrEmpty(apiKey) ? null : new Metadata { { "authorization", "Bearer " + apiKey } };
        using var call = client.StreamingRecognize(new CallOptions(headers, cancellationToken: cancellationToken));
        var config = new StreamingRecognitionConfig
        {
            Config = new RecognitionConfig
            {
                Encoding = Grpc.V1.AudioEncoding.Linear16,
                SampleRateHertz = audio.SampleRate,
                AudioChannelCount = 1,
                Model = model ?? string.Empty,
                RequestId = Guid.NewGuid().ToString("N"),
            },
            InterimResults = interim,
            EnableVoiceActivityEvents = true,

            // Paced like live audio, so it may promise to be (the server then holds it to real time).
            RealTime = realtime,
        };

        var printer = new ResponsePrinter(json);
        var receiving = Task.Run(async () =>
        {
            while (await call.ResponseStream.MoveNext(cancellationToken))
            {
                printer.Print(call.ResponseStream.Current);
            }
        }, cancellationToken);

        try
        {
            await call.RequestStream.WriteAsync(new StreamingRecognizeRequest { StreamingConfig = config }, cancellationToken);
            var samples = new float[audio.SampleRate * chunkMs / 1000];
            var bytes = new byte[samples.Length * 2];
            var started = Environment.TickCount64;
            long sent = 0;
            int read;
            while ((read = audio.Read(samples)) > 0 && !receiving.IsCompleted)
            {
                var length = RawAudioEncoder.EncodeLinear16(samples.AsSpan(0, read), bytes);
                await call.RequestStream.WriteAsync(new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(bytes, 0, length) }, cancellationToken);
                sent += read;
                if (realtime)
                {
                    var due = started + sent * 1000 / audio.SampleRate;
                    var wait = due - Environment.TickCount64;
                    if (wait > 0)
                    {
                        await Task.Delay((int)wait, cancellationToken);
                    }
                }
            }

            if (!receiving.IsCompleted)
            {
                await call.RequestStream.CompleteAsync();
            }

            await receiving;
        }
        catch (RpcException e)
        {
            printer.Finish();
            CliErrors.Report($"{e.StatusCode}: {e.Status.Detail}");
            return e.StatusCode == StatusCode.InvalidArgument ? ExitCodes.BadInput : ExitCodes.ServerError;
        }

        printer.Finish();
        return ExitCodes.Success;
    }

    /// <summary>Prints responses; on a terminal the current interim is redrawn on one line until its final arrives.</summary>
    private sealed class ResponsePrinter(bool json)
    {
        private readonly bool _inPlace = !json && !Console.IsOutputRedirected;
        private bool _interimShown;

        public void Print(StreamingRecognizeResponse response)
        {
            if (json)
            {
                Console.Out.WriteLine(JsonFormatter.Default.Format(response));
                return;
            }

            foreach (var result in response.Results)
            {
                var text = result.Alternatives.Count > 0 ? result.Alternatives[0].Transcript : string.Empty;
                if (result.IsFinal)
                {
                    ClearInterim();
                    var start = result.ResultStartOffset?.ToTimeSpan() ?? TimeSpan.Zero;
                    var end = result.ResultEndOffset?.ToTimeSpan() ?? TimeSpan.Zero;
                    Console.Out.WriteLine($"[{start:mm\\:ss\\.ff} - {end:mm\\:ss\\.ff}] {text}");
                }
                else if (_inPlace)
                {
                    var width = Math.Max(20, SafeWindowWidth() - 1);
                    var line = text.Length > width ? "…" + text[^(width - 1)..] : text;
                    Console.Out.Write("\r\u001b[2K" + line);
                    _interimShown = true;
                }
            }
        }

        public void Finish() => ClearInterim();

        private void ClearInterim()
        {
            if (_interimShown)
            {
                Console.Out.Write("\r\u001b[2K");
                _interimShown = false;
            }
        }

        private static int SafeWindowWidth()
        {
            try
            {
                return Console.WindowWidth;
            }
            catch (IOException)
            {
                return 80;
            }
        }
    }

}
