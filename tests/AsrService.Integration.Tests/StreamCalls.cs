using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Grpc.V1;
using Google.Protobuf;

namespace AsrService.Integration.Tests;

/// <summary>What a StreamingRecognize call brought back: every response and the status it ended with.</summary>
internal sealed record StreamOutcome(List<StreamingRecognizeResponse> Responses, Status Status, Metadata? Trailers)
{
    public List<StreamingRecognitionResult> Finals => Responses.SelectMany(r => r.Results).Where(r => r.IsFinal).ToList();

    public string FinalText => string.Join(' ', Finals.Select(r => r.Alternatives[0].Transcript));
}

/// <summary>Building blocks for streaming calls against the real server: audio, configs, and a call runner that
/// keeps reading while it writes, as a real client must.</summary>
internal static class StreamCalls
{
    public const string Utterance = "librispeech-test-other-dev/wav/2609-156975-0002.wav";

    public static float[] ReadUtterance() => TestData.Read(Path.Combine(TestData.Root!, Utterance));

    public static byte[] Pcm16(ReadOnlySpan<float> samples)
    {
        var bytes = new byte[samples.Length * 2];
        for (var i = 0; i < samples.Length; i++)
        {
            var value = (short)Math.Clamp(MathF.Round(samples[i] * 32768f), short.MinValue, short.MaxValue);
            bytes[2 * i] = (byte)value;
            bytes[(2 * i) + 1] = (byte)(value >> 8);
        }

        return bytes;
    }

    /// <summary>A LINEAR16 16 kHz mono config, changed as the test needs.</summary>
    public static StreamingRecognizeRequest Config(Action<StreamingRecognitionConfig>? change = null)
    {
        var streaming = new StreamingRecognitionConfig
        {
            Config = new RecognitionConfig { Encoding = Grpc.V1.AudioEncoding.Linear16, SampleRateHertz = 16_000 },
        };
        change?.Invoke(streaming);
        return new StreamingRecognizeRequest { StreamingConfig = streaming };
    }

    /// <summary>Audio requests of <paramref name="chunkBytes"/> each.</summary>
    public static IEnumerable<StreamingRecognizeRequest> Chunks(byte[] audio, int chunkBytes = 3_200)
    {
        for (var offset = 0; offset < audio.Length; offset += chunkBytes)
        {
            yield return new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(audio, offset, Math.Min(chunkBytes, audio.Length - offset)) };
        }
    }

    /// <summary>
    /// Runs a call: writes the requests (waiting <paramref name="interval"/> between them), half-closes unless told
    /// not to, and reads every response until the status. Writes that fail because the server already ended the call
    /// stop the writing; the status is what the server sent.
    /// </summary>
    public static async Task<StreamOutcome> RunAsync(
        GrpcClientConnection connection,
        IEnumerable<StreamingRecognizeRequest> requests,
        bool halfClose = true,
        TimeSpan? interval = null,
        Metadata? headers = null,
        CancellationToken cancellationToken = default)
    {
        using var call = new Asr.AsrClient(connection).StreamingRecognize(new CallOptions(headers));
        var receiving = ReceiveAsync(call);
        try
        {
            foreach (var request in requests)
            {
                if (receiving.IsCompleted || cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                await call.RequestStream.WriteAsync(request, CancellationToken.None);
                if (interval is { } delay)
                {
                    await Task.Delay(delay, CancellationToken.None);
                }
            }

            if (halfClose && !receiving.IsCompleted)
            {
                await call.RequestStream.CompleteAsync();
            }
        }
        catch (Exception e) when (e is RpcException or IOException or InvalidOperationException or OperationCanceledException)
        {
            // The server ended the call first; its status comes through the response stream.
        }

        var (responses, status) = await receiving.WaitAsync(TimeSpan.FromSeconds(120));
        Metadata? trailers = null;
        try
        {
            trailers = call.GetTrailers();
        }
        catch (InvalidOperationException)
        {
            // No trailers (e.g. the stream was reset).
        }

        return new StreamOutcome(responses, status, trailers);
    }

    private static async Task<(List<StreamingRecognizeResponse>, Status)> ReceiveAsync(
        AsyncDuplexStreamingCall<StreamingRecognizeRequest, StreamingRecognizeResponse> call)
    {
        await Task.Yield();
        var responses = new List<StreamingRecognizeResponse>();
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                responses.Add(call.ResponseStream.Current);
            }

            return (responses, call.GetStatus());
        }
        catch (RpcException e)
        {
            return (responses, e.Status);
        }
    }
}
