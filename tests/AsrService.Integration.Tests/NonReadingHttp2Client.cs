using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;

namespace AsrService.Integration.Tests;

/// <summary>How a raw HTTP/2 stream ended, as seen on the wire.</summary>
internal enum Http2StreamEnd
{
    /// <summary>The server reset the stream (RST_STREAM).</summary>
    Reset,

    /// <summary>The server ended the stream normally (END_STREAM on HEADERS or DATA).</summary>
    Ended,

    /// <summary>The connection went away (GOAWAY or closed).</summary>
    ConnectionClosed,
}

/// <summary>
/// A client that speaks just enough HTTP/2 to start a gRPC call and send messages, and that never reads responses: it
/// announces a stream receive window of 0 and never grants more, so the server cannot send a single byte of response
/// data. HttpClient cannot do this (its smallest window is 64 KiB, and it grows it), hence frames by hand. It still
/// honours the server's flow control for what it sends, and it watches the frames that need no window (RST_STREAM,
/// HEADERS, GOAWAY) to see how the server ended the call.
/// </summary>
internal sealed class NonReadingHttp2Client : IAsyncDisposable
{
    private const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7, WindowUpdate = 0x8;
    private const byte EndStream = 0x1, Ack = 0x1, EndHeaders = 0x4;
    private const int MaxFrameSize = 16_384;

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Lock _lock = new();
    private readonly Dictionary<int, TaskCompletionSource<Http2StreamEnd>> _ends = [];
    private readonly Dictionary<int, long> _streamWindows = [];
    private readonly Task _reader;
    private TaskCompletionSource _windowChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _connectionWindow = 65_535;
    private long _initialStreamWindow = 65_535;
    private bool _closed;

    private NonReadingHttp2Client(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = Task.Run(ReadFramesAsync);
    }

    public int Port { get; private init; }

    public static async Task<NonReadingHttp2Client> ConnectAsync(int port)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await tcp.GetStream().WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        var client = new NonReadingHttp2Client(tcp) { Port = port };

        // SETTINGS_ENABLE_PUSH = 0, SETTINGS_INITIAL_WINDOW_SIZE = 0.
        await client.WriteFrameAsync(Settings, 0, 0, new byte[] { 0x00, 0x02, 0, 0, 0, 0, 0x00, 0x04, 0, 0, 0, 0 });
        return client;
    }

    /// <summary>Opens a gRPC call on <paramref name="streamId"/> (odd, increasing).</summary>
    public async Task StartCallAsync(int streamId, string path)
    {
        lock (_lock)
        {
            _ends[streamId] = new TaskCompletionSource<Http2StreamEnd>(TaskCreationOptions.RunContinuationsAsynchronously);
            _streamWindows[streamId] = _initialStreamWindow;
        }

        var block = new List<byte>();
        foreach (var (name, value) in new[]
        {
            (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", $"127.0.0.1:{Port}"),
            ("content-type", "application/grpc"), ("te", "trailers"),
        })
        {
            // HPACK "literal header field without indexing, new name", no Huffman coding.
            block.Add(0x00);
            AddString(block, name);
            AddString(block, value);
        }

        await WriteFrameAsync(Headers, EndHeaders, streamId, block.ToArray());
    }

    /// <summary>Sends one gRPC message, waiting for the server's flow-control windows as a client must.</summary>
    public async Task SendMessageAsync(int streamId, IMessage message, bool endStream = false)
    {
        var payload = message.ToByteArray();
        var framed = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(framed, 5);

        var offset = 0;
        while (offset < framed.Length)
        {
            var size = await TakeWindowAsync(streamId, Math.Min(MaxFrameSize, framed.Length - offset));
            var last = offset + size == framed.Length;
            await WriteFrameAsync(Data, last && endStream ? EndStream : (byte)0, streamId, framed.AsMemory(offset, size));
            offset += size;
        }
    }

    /// <summary>Waits until the server ends <paramref name="streamId"/>, or gives up after <paramref name="timeout"/>.</summary>
    public Task<Http2StreamEnd> WaitForEndAsync(int streamId, TimeSpan timeout)
    {
        lock (_lock)
        {
            return _ends[streamId].Task.WaitAsync(timeout);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        try
        {
            await _reader;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
        }

        _writeLock.Dispose();
    }

    private static void AddString(List<byte> block, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        if (bytes.Length < 127)
        {
            block.Add((byte)bytes.Length);
        }
        else
        {
            // HPACK integer with a 7-bit prefix.
            block.Add(127);
            var rest = bytes.Length - 127;
            while (rest >= 128)
            {
                block.Add((byte)((rest % 128) + 128));
                rest /= 128;
            }

            block.Add((byte)rest);
        }

        block.AddRange(bytes);
    }

    private async Task<int> TakeWindowAsync(int streamId, int wanted)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_closed)
                {
                    throw new IOException("the connection is closed");
                }

                var available = (int)Math.Min(wanted, Math.Min(_connectionWindow, _streamWindows[streamId]));
                if (available > 0)
                {
                    _connectionWindow -= available;
                    _streamWindows[streamId] -= available;
                    return available;
                }

                changed = _windowChanged.Task;
            }

            await changed.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    private async Task WriteFrameAsync(byte type, byte flags, int streamId, ReadOnlyMemory<byte> payload)
    {
        var header = new byte[9];
        header[0] = (byte)(payload.Length >> 16);
        header[1] = (byte)(payload.Length >> 8);
        header[2] = (byte)payload.Length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(5), streamId);
        await _writeLock.WaitAsync();
        try
        {
            await _stream.WriteAsync(header);
            await _stream.WriteAsync(payload);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadFramesAsync()
    {
        var header = new byte[9];
        try
        {
            while (await ReadExactlyAsync(header))
            {
                var length = (header[0] << 16) | (header[1] << 8) | header[2];
                var type = header[3];
                var flags = header[4];
                var streamId = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & int.MaxValue;
                var payload = new byte[length];
                if (!await ReadExactlyAsync(payload))
                {
                    break;
                }

                switch (type)
                {
                    case Settings when (flags & Ack) == 0:
                        ApplySettings(payload);
                        await WriteFrameAsync(Settings, Ack, 0, ReadOnlyMemory<byte>.Empty);
                        break;
                    case Ping when (flags & Ack) == 0:
                        await WriteFrameAsync(Ping, Ack, 0, payload);
                        break;
                    case WindowUpdate:
                        AddWindow(streamId, BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue);
                        break;
                    case RstStream:
                        End(streamId, Http2StreamEnd.Reset);
                        break;
                    case Headers or Data when (flags & EndStream) != 0:
                        End(streamId, Http2StreamEnd.Ended);
                        break;
                    case GoAway:
                        CloseAll();
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
        }

        CloseAll();
    }

    private void ApplySettings(byte[] payload)
    {
        for (var i = 0; i + 6 <= payload.Length; i += 6)
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(i)) == 0x4)
            {
                lock (_lock)
                {
                    // A new initial window changes every open stream's window by the difference (RFC 9113, 6.9.2).
                    var value = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(i + 2));
                    var delta = value - _initialStreamWindow;
                    _initialStreamWindow = value;
                    foreach (var id in _streamWindows.Keys.ToList())
                    {
                        _streamWindows[id] += delta;
                    }

                    SignalWindow();
                }
            }
        }
    }

    private void AddWindow(int streamId, int increment)
    {
        lock (_lock)
        {
            if (streamId == 0)
            {
                _connectionWindow += increment;
            }
            else if (_streamWindows.ContainsKey(streamId))
            {
                _streamWindows[streamId] += increment;
            }

            SignalWindow();
        }
    }

    private void SignalWindow()
    {
        _windowChanged.TrySetResult();
        _windowChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private void End(int streamId, Http2StreamEnd end)
    {
        lock (_lock)
        {
            if (_ends.TryGetValue(streamId, out var completion))
            {
                completion.TrySetResult(end);
            }
        }
    }

    private void CloseAll()
    {
        lock (_lock)
        {
            _closed = true;
            foreach (var completion in _ends.Values)
            {
                completion.TrySetResult(Http2StreamEnd.ConnectionClosed);
            }

            SignalWindow();
        }
    }

    private async Task<bool> ReadExactlyAsync(byte[] buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var count = await _stream.ReadAsync(buffer.AsMemory(read));
            if (count == 0)
            {
                return false;
            }

            read += count;
        }

        return true;
    }
}
