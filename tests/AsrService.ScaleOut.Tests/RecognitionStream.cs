using System.Buffers.Binary;
using System.Diagnostics;
using AsrService.Core.Audio;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using Google.Protobuf;

namespace AsrService.ScaleOut.Tests;

/// <summary>How a stream ended: its status, the final transcripts it got, and when it ended.</summary>
internal sealed record StreamOutcome(string RequestId, StatusCode Code, string Detail, IReadOnlyList<string> Finals, int Responses, long EndedTimestamp)
{
    public string Transcript => string.Join(' ', Finals);

    public override string ToString() => $"{RequestId}: {Code} after {Responses} responses \"{Detail}\" finals: \"{Transcript}\"";
}

/// <summary>
/// One StreamingRecognize call sending 16 kHz LINEAR16 audio in 100 ms chunks (at real time or as fast as it can) while
/// it reads responses. "Chatty" streams ask for interims and speech events, so the server starts its response (HTTP
/// headers and messages) within a second; "quiet" ones ask for neither, so nothing comes back before the final.
/// </summary>
internal sealed class RecognitionStream
{
    public const int SampleRate = 16_000;
    private const int ChunkBytes = SampleRate * 2 / 10;

    private readonly TaskCompletionSource _firstResponse = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<StreamOutcome> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _responses;
    private int _bytesSent;

    private RecognitionStream(string requestId, bool chatty)
    {
        RequestId = requestId;
        Chatty = chatty;
    }

    public string RequestId { get; }

    public bool Chatty { get; }

    /// <summary>Completes when the call has ended, with its status; never faults on a gRPC error.</summary>
    public Task<StreamOutcome> Completion => _outcome.Task;

    /// <summary>Completes when the first response message arrives.</summary>
    public Task FirstResponse => _firstResponse.Task;

    public int Responses => Volatile.Read(ref _responses);

    public TimeSpan AudioSent => TimeSpan.FromSeconds(Volatile.Read(ref _bytesSent) / (2.0 * SampleRate));

    public static RecognitionStream Start(Asr.AsrClient client, string requestId, byte[] pcm, bool chatty, bool realTime, CancellationToken cancellationToken)
    {
        var stream = new RecognitionStream(requestId, chatty);
        _ = Task.Run(async () =>
        {
            try
            {
                stream._outcome.TrySetResult(await stream.RunAsync(client, pcm, realTime, cancellationToken));
            }
            catch (Exception exception)
            {
                stream._outcome.TrySetException(exception);
            }
        }, CancellationToken.None);
        return stream;
    }

    /// <summary>A WAV file as 16 kHz mono little-endian 16-bit samples.</summary>
    public static byte[] ReadPcm16(string path)
    {
        float[] samples;
        using (var source = AudioFile.Open(path, SampleRate))
        {
            samples = AudioFile.ReadAll(source);
        }

        var pcm = new byte[samples.Length * 2];
        for (var i = 0; i < samples.Length; i++)
        {
            var value = (short)Math.Clamp(MathF.Round(samples[i] * 32767f), short.MinValue, short.MaxValue);
            BinaryPrimitives.WriteInt16LittleEndian(pcm.AsSpan(i * 2), value);
        }

        return pcm;
    }

    private async Task<StreamOutcome> RunAsync(Asr.AsrClient client, byte[] pcm, bool realTime, CancellationToken cancellationToken)
    {
        using var call = client.StreamingRecognize(new CallOptions(cancellationToken: cancellationToken));
        var reading = ReadAsync(call, cancellationToken);
        try
        {
            await call.RequestStream.WriteAsync(new StreamingRecognizeRequest
            {
                StreamingConfig = new StreamingRecognitionConfig
                {
                    Config = new RecognitionConfig { Encoding = Grpc.V1.AudioEncoding.Linear16, SampleRateHertz = SampleRate, RequestId = RequestId },
                    InterimResults = Chatty,
                    EnableVoiceActivityEvents = Chatty,
                },
            });

            var started = Stopwatch.GetTimestamp();
            for (var offset = 0; offset < pcm.Length && !reading.IsCompleted; offset += ChunkBytes)
            {
                if (realTime)
                {
                    var due = TimeSpan.FromSeconds(offset / (2.0 * SampleRate)) - Stopwatch.GetElapsedTime(started);
                    if (due > TimeSpan.Zero)
                    {
                        await Task.Delay(due, cancellationToken);
                    }
                }

                var count = Math.Min(ChunkBytes, pcm.Length - offset);
                await call.RequestStream.WriteAsync(new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(pcm, offset, count) });
                Interlocked.Add(ref _bytesSent, count);
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The call is over; its status is what the response side reports.
        }

        return await reading;
    }

    private async Task<StreamOutcome> ReadAsync(AsyncDuplexStreamingCall<StreamingRecognizeRequest, StreamingRecognizeResponse> call, CancellationToken cancellationToken)
    {
        var finals = new List<string>();
        try
        {
            while (await call.ResponseStream.MoveNext(cancellationToken))
            {
                Interlocked.Increment(ref _responses);
                _firstResponse.TrySetResult();
                foreach (var result in call.ResponseStream.Current.Results)
                {
                    if (result.IsFinal)
                    {
                        finals.Add(result.Alternatives[0].Transcript);
                    }
                }
            }

            return new StreamOutcome(RequestId, StatusCode.OK, string.Empty, finals, Responses, Stopwatch.GetTimestamp());
        }
        catch (RpcException exception)
        {
            return new StreamOutcome(RequestId, exception.StatusCode, exception.Status.Detail, finals, Responses, Stopwatch.GetTimestamp());
        }
    }
}
