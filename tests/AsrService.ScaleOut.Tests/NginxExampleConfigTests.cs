using System.Diagnostics;

namespace AsrService.ScaleOut.Tests;

/// <summary>deploy/nginx/asr-grpc.conf, the example users copy: nginx accepts it, and it keeps what the scale-out test relies on.</summary>
public sealed class NginxExampleConfigTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("asr-nginx-example-");

    private static string ExamplePath => Path.Combine(TestEnvironment.RepositoryRoot, "deploy", "nginx", "asr-grpc.conf");

    [NginxFact]
    public void ExampleConfig_InsideAnHttpBlock_PassesNginxConfigurationTest()
    {
        // The example goes in conf.d/, inside http {}: wrap it the way nginx.conf does, with every path in the
        // temporary folder so that the check needs no root.
        var directory = _directory.FullName;
        var example = File.ReadAllText(ExamplePath).Replace("/var/log/nginx/", directory + "/", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(directory, "asr-grpc.conf"), example);
        var config = Path.Combine(directory, "nginx.conf");
        File.WriteAllText(config, $$"""
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log;
            events {}
            http {
                client_body_temp_path {{directory}}/client_body;
                proxy_temp_path {{directory}}/proxy;
                fastcgi_temp_path {{directory}}/fastcgi;
                uwsgi_temp_path {{directory}}/uwsgi;
                scgi_temp_path {{directory}}/scgi;
                include {{directory}}/asr-grpc.conf;
            }

            """);

        var start = new ProcessStartInfo(TestEnvironment.Nginx!) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-t", "-p", directory, "-e", Path.Combine(directory, "error.log"), "-c", config })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"nginx -t rejected deploy/nginx/asr-grpc.conf:\n{errors}");
    }

    [Fact]
    public void ExampleConfig_SharesTheScaleOutTestsLoadBalancingSettings()
    {
        var example = File.ReadAllText(ExamplePath);
        var tested = NginxProxy.Configuration("/tmp/x", 1, [2, 3]);
        foreach (var setting in new[] { "listen", "http2;", "grpc_pass grpc://asr_backend;", "client_max_body_size 0;", "grpc_next_upstream error timeout;", "max_fails=1" })
        {
            Assert.Contains(setting, tested, StringComparison.Ordinal);
            Assert.Contains(setting, example, StringComparison.Ordinal);
        }
    }

    public void Dispose()
    {
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Left for the system's temporary-file clean-up.
        }
    }
}
