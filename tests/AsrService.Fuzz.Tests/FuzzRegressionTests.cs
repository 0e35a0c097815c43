using AsrService.Core.Pipeline;
using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using AsrService.Core.Audio;
using AsrService.Fuzz.Tests.Audio;
using AsrService.Fuzz.Tests.Framing;
using AsrService.Fuzz.Tests.Pipeline;
using AsrService.Fuzz.Tests.Service;
using AsrService.Grpc;
using AsrService.Grpc.Internal;
using AsrService.Grpc.V1;
using AsrService.Server;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsrService.Fuzz.Tests;

/// <summary>
/// Bugs the fuzz tests found, each kept as a plain test of the input that triggered it (reduced by hand), so that a
/// later change of a generator or a seed cannot lose the case.
/// </summary>
public sealed class FuzzRegressionTests
{
    /// <summary>
    /// WavFuzzTests.Open_MutatedValidWav (seed 0x5EED0303, case 2): a band-limited filter rings past a full-scale
    /// step (Gibbs), so an 8-bit WAV alternating between its extremes came out of the 8 to 16 kHz resampler at up to
    /// 1.34, outside the [-1, 1] every audio source promises.
    /// </summary>
    [Theory]
    [InlineData(8_000, 1)]
    [InlineData(8_000, 7)]
    [InlineData(48_000, 5)]
    [InlineData(44_100, 40)]
    public void Open_FullScaleSquareWave_SamplesStayWithinFullScale(int sampleRate, int halfPeriod)
    {
        const int frames = 4000;
        byte[] file = SimpleWav.Pcm(frames, frames, sampleRate, bitsPerSample: 8);
        for (int i = 0; i < frames; i++)
        {
            file[44 + i] = (i / halfPeriod & 1) == 0 ? (byte)0xFF : (byte)0x00;
        }

        using IAudioSource source = AudioFile.Open(
            new MemoryStream(file), AudioFile.DefaultSampleRate, leaveOpen: false, SimpleWav.MissingFfmpeg);
        float[] samples = AudioFile.ReadAll(source);

        Assert.InRange(samples.Max(), 0.1f, 1f);
        Assert.InRange(samples.Min(), -1f, -0.1f);
    }

    /// <summary>
    /// The same ringing on the streaming path (PcmDecoderFuzzTests seed 0x5EED0402 case 3, StreamingPipelineFuzzTests
    /// seed 0x5EED0501 case 2): a client streaming clipped LINEAR16 at 48 kHz made the stream decoder hand the
    /// voice-activity model samples of -1.013.
    /// </summary>
    [Theory]
    [InlineData(48_000, 5)]
    [InlineData(8_000, 3)]
    [InlineData(24_000, 2)]
    public void PcmStreamDecoder_ClippedSquareWave_SamplesStayWithinFullScale(int sampleRate, int halfPeriod)
    {
        var chunk = new byte[2 * sampleRate / 10];
        for (int i = 0; i < chunk.Length / 2; i++)
        {
            short value = (i / halfPeriod & 1) == 0 ? short.MaxValue : short.MinValue;
            chunk[2 * i] = (byte)value;
            chunk[2 * i + 1] = (byte)(value >> 8);
        }

        var decoder = new PcmStreamDecoder(Core.Audio.AudioEncoding.Linear16, sampleRate, channels: 1);
        float[] samples = [.. decoder.Decode(chunk).Span, .. decoder.Decode(chunk).Span, .. decoder.Flush().Span];

        Assert.InRange(samples.Max(), 0.1f, 1f);
        Assert.InRange(samples.Min(), -1f, -0.1f);
    }

    /// <summary>
    /// ProtobufParserFuzzTests (seed 0x5EED0101 case 65) and AsrServiceFuzzTests (seed 0x5EED0602 case 4311):
    /// Google.Protobuf overflows its limit when a sub-message's length is near int.MaxValue
    /// (protocolbuffers/protobuf#26856), then allocates what the next length says (256 MiB for the second input
    /// here) and throws ArgumentOutOfRangeException or IndexOutOfRangeException. The server read that as a handler
    /// failure; now the frame reader refuses such a message before parsing, with INTERNAL and without allocating.
    /// </summary>
    [Theory]
    [InlineData("0AFFFFFFFF07")]
    [InlineData("0AFFFFFFFF0712808080800100")]
    [InlineData("0A170A13080210C03E30013A0A12FFFFFFFF07A19B8003100171")]
    public void ReadMessage_SubMessageLengthNearIntMax_InternalWithoutAllocating(string hex)
    {
        byte[] message = Convert.FromHexString(hex);
        var frame = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, 5);
        PipeReader reader = PipeReader.Create(new ReadOnlySequence<byte>(frame));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var exception = Assert.Throws<RpcException>(() => MessageFraming.ReadMessageAsync(
            reader, StreamingRecognizeRequest.Parser, null, 4 * 1024 * 1024, CancellationToken.None).GetAwaiter().GetResult());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(StatusCode.Internal, exception.StatusCode);
        Assert.True(allocated < 1024 * 1024, $"allocated {allocated} bytes for a {message.Length}-byte message");
    }

    /// <summary>The same message through a real server: INTERNAL, and no handler failure in its log.</summary>
    [Fact]
    public async Task Server_SubMessageLengthNearIntMax_InternalWithoutHandlerFailure()
    {
        await using FuzzServerHost host = await FuzzServerHost.StartAsync();
        using HttpClient client = host.CreateClient();
        byte[] message = Convert.FromHexString("0AFFFFFFFF0712808080800100");
        var frame = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, 5);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/asr.v1.Asr/Recognize")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");

        using HttpResponseMessage response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        string? status = response.Headers.TryGetValues("grpc-status", out var values) ? values.First()
            : response.TrailingHeaders.TryGetValues("grpc-status", out values) ? values.First() : null;

        Assert.Equal("13", status);
        Assert.Empty(host.Errors.Entries);
    }

    /// <summary>
    /// MessageFramingFuzzTests (ASR_FUZZ_SEED=777, case 20213): a deflate (zlib) message whose header asks for a preset
    /// dictionary (FLG bit FDICT) makes zlib answer Z_NEED_DICT, which .NET throws as ZLibException, an IOException,
    /// not the InvalidDataException the decompressor caught; the server logged a handler failure. Now INTERNAL.
    /// </summary>
    [Theory]
    [InlineData("78BB0000000103")]
    [InlineData("783F0000000103000000")]
    public void ReadMessage_DeflateAskingForPresetDictionary_Internal(string hex)
    {
        byte[] payload = Convert.FromHexString(hex);
        var frame = new byte[5 + payload.Length];
        frame[0] = 1;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);

        var exception = Assert.Throws<RpcException>(() => MessageFraming.ReadMessageAsync(
            PipeReader.Create(new ReadOnlySequence<byte>(frame)), StreamingRecognizeRequest.Parser, "deflate", 64 * 1024, CancellationToken.None)
            .GetAwaiter().GetResult());

        Assert.Equal(StatusCode.Internal, exception.StatusCode);
    }

    /// <summary>
    /// AsrServiceFuzzTests (seed 0x5EED0601 case 3, seed 0x5EED0602 case 2): a voice_activity or interim_interval
    /// Duration that protobuf calls invalid (nanos past +-999,999,999, or signed against seconds) parses fine, but
    /// Duration.ToTimeSpan threw InvalidOperationException from request validation, so the client got INTERNAL
    /// "Exception was thrown by handler" instead of INVALID_ARGUMENT naming the field.
    /// </summary>
    [Theory]
    [InlineData(1, -1)]
    [InlineData(-1, 1)]
    [InlineData(0, 1_000_000_000)]
    [InlineData(0, int.MinValue)]
    [InlineData(315_576_000_001, 0)]
    [InlineData(long.MinValue, 0)]
    public void Recognize_VoiceActivityDurationNotNormalized_InvalidArgumentNamingTheField(long seconds, int nanos)
    {
        var request = new RecognizeRequest
        {
            Config = new RecognitionConfig
            {
                Encoding = Grpc.V1.AudioEncoding.Linear16,
                SampleRateHertz = 16_000,
                VoiceActivity = new VoiceActivityConfig { MinSilence = new Duration { Seconds = seconds, Nanos = nanos } },
            },
            AudioContent = ByteString.CopyFrom(new byte[3200]),
        };

        var exception = Assert.Throws<RpcException>(() => CreateService().Recognize(request, new FuzzCallContext()).GetAwaiter().GetResult());

        Assert.Equal(StatusCode.InvalidArgument, exception.StatusCode);
        Assert.Contains("voice_activity.min_silence", exception.Status.Detail, StringComparison.Ordinal);
    }

    /// <summary>The same for the streaming config's interim_interval.</summary>
    [Fact]
    public void StreamingRecognize_InterimIntervalNotNormalized_InvalidArgumentNamingTheField()
    {
        var config = new StreamingRecognizeRequest
        {
            StreamingConfig = new StreamingRecognitionConfig
            {
                Config = new RecognitionConfig { Encoding = Grpc.V1.AudioEncoding.Linear16, SampleRateHertz = 16_000 },
                InterimInterval = new Duration { Seconds = 1, Nanos = -500_000_000 },
            },
        };

        var exception = Assert.Throws<RpcException>(() => CreateService().StreamingRecognize(
            new ListStreamReader<StreamingRecognizeRequest>([config]),
            new ListStreamWriter<StreamingRecognizeResponse>(),
            new FuzzCallContext()).GetAwaiter().GetResult());

        Assert.Equal(StatusCode.InvalidArgument, exception.StatusCode);
        Assert.Contains("interim_interval", exception.Status.Detail, StringComparison.Ordinal);
    }

    private static AsrGrpcService CreateService() => new(
        new CheckingRecognizer(), new CheckingVoiceActivityModel(), new AsrServiceOptions(), new DecodeScheduler(1), NullLogger<AsrGrpcService>.Instance);
}
