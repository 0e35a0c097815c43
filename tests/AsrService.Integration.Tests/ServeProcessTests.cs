using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Grpc.V1;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

/// <summary>
/// <c>asr serve</c> as a process, stopped the way an orchestrator stops it: SIGTERM. The open stream must still get
/// its final results and OK, new calls get UNAVAILABLE, and the process exits 0 once the stream is done (not 2 s after
/// the signal, which is what System.CommandLine would do on its own).
/// </summary>
public sealed partial class ServeProcessTests(ITestOutputHelper output)
{
    private const int Sigterm = 15;

    [DataFact]
    public async Task Serve_Sigterm_OpenStreamFinishesAndProcessExitsZero()
    {
        var samples = StreamCalls.ReadUtterance();
        using var process = StartServe("--port", "0", "--shutdown-grace-s", "20", "--threads", "1");
        try
        {
            var port = await ReadPortAsync(process);
            using var connection = GrpcClientConnection.ForAddress($"127.0.0.1:{port}");
            using var call = new Asr.AsrClient(connection).StreamingRecognize();
            var firstResponse = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var receiving = Task.Run(async () =>
            {
                var finals = new List<string>();
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                    firstResponse.TrySetResult();
                    finals.AddRange(call.ResponseStream.Current.Results.Where(r => r.IsFinal).Select(r => r.Alternatives[0].Transcript));
                }

                return finals;
            });
            await call.RequestStream.WriteAsync(StreamCalls.Config(c => c.EnableVoiceActivityEvents = true));
            foreach (var chunk in StreamCalls.Chunks(StreamCalls.Pcm16(samples.AsSpan(0, 16_000 * 3))))
            {
                await call.RequestStream.WriteAsync(chunk);
            }

            // The speech-begin event proves the server has the stream open (written requests may still be in flight).
            await firstResponse.Task.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(0, Kill(process.Id, Sigterm));
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.False(process.HasExited, "the server exited while a stream was open");
            var refused = await StreamCalls.RunAsync(connection, [StreamCalls.Config()]);

            foreach (var chunk in StreamCalls.Chunks(StreamCalls.Pcm16(samples.AsSpan(16_000 * 3))))
            {
                await call.RequestStream.WriteAsync(chunk);
            }

            await call.RequestStream.CompleteAsync();
            var finals = await receiving.WaitAsync(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(StatusCode.Unavailable, refused.Status.StatusCode);
            Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
            Assert.NotEmpty(string.Join(' ', finals));
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    [DataFact]
    public async Task Bench_PastTheServersStreamLimit_CountsRefusalsWithTheServersMessage()
    {
        // asr bench against a separate asr serve that admits one stream: the two others must be counted as
        // RESOURCE_EXHAUSTED with the server's own message (not lost as UNKNOWN), and the admitted one measured.
        using var process = StartServe("--port", "0", "--max-streams", "1", "--threads", "1");
        var json = Path.Combine(Path.GetTempPath(), $"asr-bench-{Guid.NewGuid():N}.json");
        try
        {
            var port = await ReadPortAsync(process);
            var bench = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "asr"))
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[] { "bench", "--server", $"127.0.0.1:{port}", "--streams", "3", "--duration", "3", "--data", TestData.Folder("librispeech-test-other-dev"), "--json", json })
            {
                bench.ArgumentList.Add(argument);
            }

            using var run = Process.Start(bench)!;
            var stdout = run.StandardOutput.ReadToEndAsync();
            var stderr = await run.StandardError.ReadToEndAsync();
            await run.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
            output.WriteLine(await stdout);
            output.WriteLine(stderr);

            Assert.Equal(4, run.ExitCode);
            Assert.Contains("first ResourceExhausted message: the server is decoding its maximum of 1 stream", stderr);
            var result = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("runs")[0];
            Assert.Equal(3, result.GetProperty("streams").GetInt32());
            var errors = result.GetProperty("errors");
            Assert.Equal(2, errors.GetProperty("ResourceExhausted").GetInt32());
            Assert.Single(errors.EnumerateObject());
            Assert.Contains("maximum of 1 stream", result.GetProperty("first_error_messages").GetProperty("ResourceExhausted").GetString());
            Assert.True(result.GetProperty("finals").GetInt32() >= 1, "the admitted stream produced no final result");
            Assert.True(result.GetProperty("final_latency_s").GetProperty("count").GetDouble() >= 1);
        }
        finally
        {
            File.Delete(json);
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    private static int Kill(int pid, int signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        return kill.ExitCode;
    }

    [GeneratedRegex(@"asr: listening on http://127\.0\.0\.1:(\d+)/")]
    private static partial Regex ListeningLine();

    private Process StartServe(params string[] arguments)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "asr"))
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("serve");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Write("stdout", e.Data);
        process.BeginOutputReadLine();
        return process;
    }

    private async Task<int> ReadPortAsync(Process process)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        while (await process.StandardError.ReadLineAsync(timeout.Token) is { } line)
        {
            Write("stderr", line);
            if (ListeningLine().Match(line) is { Success: true } match)
            {
                // Keep draining standard error so that the server never blocks on a full pipe.
                _ = Task.Run(async () =>
                {
                    while (await process.StandardError.ReadLineAsync() is { } more)
                    {
                        Write("stderr", more);
                    }
                });
                return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"asr serve exited ({process.ExitCode}) before listening");
    }

    private void Write(string stream, string? line)
    {
        if (line is null)
        {
            return;
        }

        try
        {
            output.WriteLine($"[{stream}] {line}");
        }
        catch (InvalidOperationException)
        {
            // The test has finished; its output helper no longer takes lines.
        }
    }
}
