using System.Diagnostics;
using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Grpc.V1;
using Xunit.Abstractions;

namespace AsrService.ScaleOut.Tests;

/// <summary>
/// Two <c>asr serve</c> processes behind nginx, as in deploy/nginx/asr-grpc.conf: calls spread over both, and when one
/// replica dies its calls end at once with a status a client can act on, while the other replica's calls and new calls
/// carry on.
/// </summary>
/// <remarks>
/// What nginx does with a call whose replica dies depends on how far the response got. Before the replica sent
/// anything, nginx answers HTTP 502, which gRPC clients read as UNAVAILABLE. Once the response has begun (headers, an
/// interim, a speech event), nginx can only reset the HTTP/2 stream (RST_STREAM INTERNAL_ERROR), which gRPC clients
/// (ours, grpc-core) read as INTERNAL. The test pins down both, with a "quiet" and a "chatty" stream on the replica it
/// kills. nginx cannot move a call that has sent audio to another replica; the client has to start a new stream.
/// </remarks>
public sealed class NginxLoadBalancingTests(ITestOutputHelper output) : IDisposable
{
    private const string LongUtterance = "1221-135766-0001"; // 16.7 s, one sentence: no final before its end
    private const string ShortUtterance = "jfk"; // 11 s
    private const double MaxWordErrorRate = 0.25;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(15);

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("asr-scaleout-");
    private readonly List<IDisposable> _processes = [];

    [NginxFact(needsData: true)]
    public async Task StreamingRecognize_ReplicaKilled_ItsStreamsFailFastOthersFinishAndNewStreamsSucceed()
    {
        using var testTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var token = testTimeout.Token;
        var (replicaA, replicaB) = await StartReplicasAsync();
        var replicas = new[] { replicaA, replicaB };
        var nginx = await NginxProxy.StartAsync(_directory.FullName, [replicaA.Port, replicaB.Port], StepTimeout);
        _processes.Add(nginx);
        output.WriteLine($"nginx on {nginx.Address} -> {replicaA.Name} :{replicaA.Port}, {replicaB.Name} :{replicaB.Port}");

        var references = References();
        var longAudio = RecognitionStream.ReadPcm16(TestEnvironment.Data("en-misc", "wav", LongUtterance + ".wav"));
        var shortAudio = RecognitionStream.ReadPcm16(TestEnvironment.Data("en-misc", "wav", ShortUtterance + ".wav"));
        using var connection = GrpcClientConnection.ForAddress(nginx.Address);
        var client = new Asr.AsrClient(connection);

        // Four streams at real time, opened one after another so that nginx's round robin alternates them: each
        // replica should get one quiet and one chatty stream.
        var streams = new List<RecognitionStream>();
        var placement = new Dictionary<string, AsrReplica>();
        foreach (var (id, chatty) in new[] { ("quiet-1", false), ("quiet-2", false), ("chatty-1", true), ("chatty-2", true) })
        {
            var stream = RecognitionStream.Start(client, id, longAudio, chatty, realTime: true, token);
            streams.Add(stream);
            placement[id] = await WhereStartedAsync(stream, replicas);
            output.WriteLine($"{id} -> {placement[id].Name}");
        }

        var victim = placement["quiet-1"];
        var survivor = victim == replicaA ? replicaB : replicaA;
        Assert.All(replicas, r => Assert.Equal(2, placement.Values.Count(p => p == r)));
        Assert.True(placement["chatty-1"] == victim, $"round robin should have put chatty-1 beside quiet-1 on {victim.Name}");

        // Kill once the chatty streams' responses have begun and a few seconds of audio are in flight.
        await Task.WhenAll(streams.Where(s => s.Chatty).Select(s => s.FirstResponse)).WaitAsync(StepTimeout, token);
        while (streams.Min(s => s.AudioSent) < TimeSpan.FromSeconds(3))
        {
            await Task.Delay(100, token);
        }

        var onVictim = streams.Where(s => placement[s.RequestId] == victim).ToList();
        var onSurvivor = streams.Except(onVictim).ToList();
        Assert.All(onVictim.Where(s => !s.Chatty), s => Assert.Equal(0, s.Responses));
        var killedAt = Stopwatch.GetTimestamp();
        victim.Kill();
        output.WriteLine($"killed {victim.Name}");

        // The victim's streams end within seconds, each with the status its progress implies (see remarks).
        var failed = await Task.WhenAll(onVictim.Select(s => s.Completion)).WaitAsync(StepTimeout, token);
        foreach (var outcome in failed)
        {
            output.WriteLine($"{outcome} ({Stopwatch.GetElapsedTime(killedAt, outcome.EndedTimestamp).TotalMilliseconds:F0} ms after the kill)");
            Assert.True(Stopwatch.GetElapsedTime(killedAt, outcome.EndedTimestamp) < TimeSpan.FromSeconds(5), $"{outcome.RequestId} took too long to fail");
        }

        Assert.All(failed.Where(o => o.RequestId.StartsWith("quiet", StringComparison.Ordinal)), o => Assert.Equal(StatusCode.Unavailable, o.Code));
        Assert.All(failed.Where(o => o.RequestId.StartsWith("chatty", StringComparison.Ordinal)), o => Assert.Equal(StatusCode.Internal, o.Code));
        Assert.All(failed, o => Assert.Empty(o.Finals));

        // New streams keep working while the survivor's long streams are still open: first while nginx has the dead
        // replica marked failed, then after fail_timeout, when nginx tries it again, is refused, and moves on.
        await RecognizeNewStreamsAsync(client, shortAudio, references[ShortUtterance], survivor, "after-kill", token);

        // The survivor's streams were never disturbed: they end with OK and their transcripts.
        var finished = await Task.WhenAll(onSurvivor.Select(s => s.Completion)).WaitAsync(TimeSpan.FromSeconds(40), token);
        foreach (var outcome in finished)
        {
            output.WriteLine(outcome.ToString());
            Assert.Equal(StatusCode.OK, outcome.Code);
            Assert.InRange(Core.Recognition.WordErrorRate.Compute([(references[LongUtterance], outcome.Transcript)]), 0, MaxWordErrorRate);
        }

        Assert.True(victim.HasExited);
        Assert.False(survivor.HasExited);
        output.WriteLine("nginx access log:\n" + nginx.AccessLog());
        output.WriteLine("nginx error log:\n" + nginx.ErrorLog());
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes))
        {
            process.Dispose();
        }

        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A process that has not let go of a log yet: the temporary folder is cleaned up by the system.
        }
    }

    private static Dictionary<string, string> References() =>
        AsrService.Core.Recognition.WordErrorRate.ReadReferences(TestEnvironment.Data("en-misc", "trans.txt"));

    private async Task<(AsrReplica A, AsrReplica B)> StartReplicasAsync()
    {
        var starting = new[]
        {
            AsrReplica.StartAsync("replica-a", _directory.FullName, StartTimeout),
            AsrReplica.StartAsync("replica-b", _directory.FullName, StartTimeout),
        };
        try
        {
            await Task.WhenAll(starting);
        }
        finally
        {
            _processes.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
        }

        return (starting[0].Result, starting[1].Result);
    }

    /// <summary>The replica whose log shows the stream starting; fails if the stream ends first or no replica logs it.</summary>
    private static async Task<AsrReplica> WhereStartedAsync(RecognitionStream stream, IReadOnlyList<AsrReplica> replicas)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(StepTimeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (replicas.SingleOrDefault(r => r.StartedRequestIds().Contains(stream.RequestId)) is { } replica)
            {
                return replica;
            }

            if (stream.Completion.IsCompleted)
            {
                Assert.Fail($"{stream.RequestId} ended before any replica logged it: {await stream.Completion}");
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                Assert.Fail($"no replica logged {stream.RequestId} within {StepTimeout.TotalSeconds:F0} s:\n{string.Join("\n---\n", replicas.Select(r => r.Log()))}");
            }

            await Task.Delay(50);
        }
    }

    private async Task RecognizeNewStreamsAsync(Asr.AsrClient client, byte[] audio, string reference, AsrReplica survivor, string prefix, CancellationToken token)
    {
        var rounds = new[] { TimeSpan.Zero, NginxProxy.FailTimeout + TimeSpan.FromSeconds(1) };
        var roundStart = Stopwatch.GetTimestamp();
        for (var round = 0; round < rounds.Length; round++)
        {
            var wait = rounds[round] - Stopwatch.GetElapsedTime(roundStart);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, token);
            }

            for (var i = 0; i < 2; i++)
            {
                var stream = RecognitionStream.Start(client, $"{prefix}-{round}-{i}", audio, chatty: false, realTime: false, token);
                var outcome = await stream.Completion.WaitAsync(StepTimeout, token);
                output.WriteLine(outcome.ToString());
                Assert.Equal(StatusCode.OK, outcome.Code);
                Assert.InRange(Core.Recognition.WordErrorRate.Compute([(reference, outcome.Transcript)]), 0, MaxWordErrorRate);
                Assert.Contains(stream.RequestId, survivor.StartedRequestIds());
            }
        }
    }
}
