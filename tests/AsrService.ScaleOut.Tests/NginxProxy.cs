using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AsrService.ScaleOut.Tests;

/// <summary>
/// nginx in the foreground as a child process, with its configuration, logs, pid file and temporary folders all in one
/// temporary directory: it needs no root and leaves nothing behind. The configuration is the gRPC load balancer of
/// deploy/nginx/asr-grpc.conf with test-sized timeouts.
/// </summary>
internal sealed class NginxProxy : IDisposable
{
    private readonly ChildProcess _process;

    private NginxProxy(ChildProcess process, string directory, int port)
    {
        _process = process;
        Directory = directory;
        Port = port;
    }

    /// <summary>How long nginx keeps a replica out of rotation after a failed call (its upstream fail_timeout).</summary>
    public static TimeSpan FailTimeout { get; } = TimeSpan.FromSeconds(5);

    public int Port { get; }

    public string Directory { get; }

    public string Address => $"127.0.0.1:{Port}";

    /// <summary>Writes the configuration for <paramref name="upstreamPorts"/>, starts nginx and waits until it accepts connections.</summary>
    public static async Task<NginxProxy> StartAsync(string directory, IReadOnlyList<int> upstreamPorts, TimeSpan timeout)
    {
        var port = FreePort();
        var configPath = Path.Combine(directory, "nginx.conf");
        await File.WriteAllTextAsync(configPath, Configuration(directory, port, upstreamPorts));

        // -e: the error log before the configuration is read, which otherwise is /var/log/nginx/error.log (root only).
        var process = ChildProcess.Start("nginx", TestEnvironment.Nginx!, ["-p", directory, "-e", Path.Combine(directory, "error.log"), "-c", configPath], directory);
        var proxy = new NginxProxy(process, directory, port);
        try
        {
            await proxy.WaitUntilListeningAsync(timeout);
            return proxy;
        }
        catch
        {
            proxy.Dispose();
            throw;
        }
    }

    /// <summary>An nginx.conf: one worker in the foreground, HTTP/2 cleartext in front, round robin over the replicas.</summary>
    public static string Configuration(string directory, int port, IReadOnlyList<int> upstreamPorts)
    {
        var upstreams = new StringBuilder();
        foreach (var upstream in upstreamPorts)
        {
            // max_fails=1: the first failed call to a dead replica takes it out of rotation for fail_timeout.
            upstreams.Append(CultureInfo.InvariantCulture, $"        server 127.0.0.1:{upstream} max_fails=1 fail_timeout={FailTimeout.TotalSeconds}s;\n");
        }

        return $$"""
            worker_processes 1;
            daemon off;
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log warn;

            events {
                worker_connections 256;
            }

            http {
                log_format grpc '$time_iso8601 $request_uri status=$status grpc_status=$sent_trailer_grpc_status upstream=$upstream_addr upstream_status=$upstream_status duration=$request_time';
                access_log {{directory}}/access.log grpc;
                client_body_temp_path {{directory}}/client_body;
                proxy_temp_path {{directory}}/proxy;
                fastcgi_temp_path {{directory}}/fastcgi;
                uwsgi_temp_path {{directory}}/uwsgi;
                scgi_temp_path {{directory}}/scgi;

                upstream asr_backend {
            {{upstreams}}    }

                server {
                    listen 127.0.0.1:{{port}} http2;

                    # A stream's request body is its audio: no size limit, and the client may pause between chunks.
                    client_max_body_size 0;
                    client_body_timeout 30s;

                    location / {
                        grpc_pass grpc://asr_backend;
                        grpc_connect_timeout 2s;
                        # Longest gap between two messages from the server (a stream without interims is silent until
                        # its final) and between two writes to it.
                        grpc_read_timeout 30s;
                        grpc_send_timeout 30s;
                        # A refused or failed connection moves the call to the next replica; a call that already sent
                        # audio cannot be moved (nginx does not buffer gRPC request bodies).
                        grpc_next_upstream error timeout;
                    }
                }
            }

            """;
    }

    /// <summary>The access log: one line per call with its HTTP status, grpc-status trailer and upstream.</summary>
    public string AccessLog() => ReadShared(Path.Combine(Directory, "access.log"));

    public string ErrorLog() => ReadShared(Path.Combine(Directory, "error.log"));

    public void Dispose() => _process.Dispose();

    private static string ReadShared(string path)
    {
        if (!File.Exists(path))
        {
            return string.Empty;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static int FreePort()
    {
        // nginx cannot be told to pick a port and report it; a port the kernel just handed out is free in practice.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task WaitUntilListeningAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"nginx exited at start:\n{_process.Log()}\n{ErrorLog()}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
            catch (SocketException exception)
            {
                throw new TimeoutException($"nginx did not listen on {Address} within {timeout.TotalSeconds:F0} s ({exception.SocketErrorCode}):\n{_process.Log()}\n{ErrorLog()}");
            }
        }
    }
}
