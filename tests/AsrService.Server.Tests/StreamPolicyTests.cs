using AsrService.Server;

namespace AsrService.Server.Tests;

public sealed class RealTimePacerTests
{
    private readonly ManualClock _clock = new();

    [Fact]
    public void TryTake_AudioAtRealTime_AlwaysFits()
    {
        var pacer = new RealTimePacer(2.0, TimeSpan.FromSeconds(1), _clock);
        for (var i = 0; i < 36_000; i++)
        {
            _clock.Advance(TimeSpan.FromMilliseconds(100));
            Assert.True(pacer.TryTake(0.1), $"chunk {i} refused");
        }
    }

    [Fact]
    public void TryTake_BurstThenRecordedSpeed_RefusedOnceTheBucketIsEmpty()
    {
        var pacer = new RealTimePacer(2.0, TimeSpan.FromSeconds(1), _clock);

        Assert.True(pacer.TryTake(1.0));
        Assert.False(pacer.TryTake(0.1));
    }

    [Fact]
    public void TryTake_TwiceRealTime_FitsButThreeTimesDoesNot()
    {
        var pacer = new RealTimePacer(2.0, TimeSpan.FromSeconds(1), _clock);
        var refusedAtTwice = false;
        for (var i = 0; i < 600; i++)
        {
            _clock.Advance(TimeSpan.FromMilliseconds(50));
            refusedAtTwice |= !pacer.TryTake(0.1);
        }

        var refusedAtThrice = false;
        for (var i = 0; i < 600 && !refusedAtThrice; i++)
        {
            _clock.Advance(TimeSpan.FromMilliseconds(100));
            refusedAtThrice = !pacer.TryTake(0.3);
        }

        Assert.False(refusedAtTwice);
        Assert.True(refusedAtThrice);
    }

    [Fact]
    public void TryTake_LongIdleThenAHourAtOnce_RefusedBecauseCreditIsCapped()
    {
        var pacer = new RealTimePacer(2.0, TimeSpan.FromSeconds(10), _clock);
        _clock.Advance(TimeSpan.FromHours(1));

        Assert.True(pacer.TryTake(10));
        Assert.False(pacer.TryTake(1));
    }

    /// <summary>A clock that moves only when told.</summary>
    internal sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
