using System.Diagnostics;
using SharpCnn.Kernels;

namespace SharpCnn.Tests.Kernels;

/// <summary>The cores' round trip that `sharpcnn bench` reports beside its thread-scaling rounds: a time when the two threads exchange, NaN when they cannot.</summary>
/// <remarks>Alone (no other test runs beside it), so that the two threads get two cores.</remarks>
[Collection(ThreadCountCollection.Name)]
public class CoreRoundTripTests
{
    [Fact]
    public void TwoThreadsExchangeInAPositiveTimeBelowAMillisecond()
    {
        double nanoseconds = CoreRoundTrip.Measure(exchanges: 500, bursts: 2);
        if (Environment.ProcessorCount < 2)
        {
            Assert.True(double.IsNaN(nanoseconds), $"{nanoseconds} ns on one processor");
            return;
        }
        // Tens of ns on one chip, hundreds between chiplets or sockets; a millisecond would be the threads taking turns on one core.
        Assert.InRange(nanoseconds, 1, 1e6);
    }

    [Fact]
    public void AnExchangeThatOutlastsTheTimeLimitGivesNaNAndReturns()
    {
        var clock = Stopwatch.StartNew();
        // 10 million exchanges take seconds at any round trip: the limit of 1 ms ends the measurement first.
        double nanoseconds = CoreRoundTrip.Measure(exchanges: 10_000_000, bursts: 1, timeLimitSeconds: 0.001);
        Assert.True(double.IsNaN(nanoseconds), $"{nanoseconds} ns");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Theory]
    [InlineData(0, 1, 1.0)]
    [InlineData(1, 0, 1.0)]
    [InlineData(1, 1, 0.0)]
    public void BadArgumentsAreRefused(int exchanges, int bursts, double limit)
        => Assert.Throws<ArgumentOutOfRangeException>(() => CoreRoundTrip.Measure(exchanges, bursts, limit));
}
