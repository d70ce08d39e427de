// How far apart the cores that two threads run on are: the time a cache line takes to go from one core to the other and back.
//
// Two threads pass a counter back and forth through one cache line: one writes the odd values, the other answers each
// with the next even one. Each exchange moves the line to the other core and back, so the time per exchange is the cores'
// round trip. On one chip it is tens of nanoseconds (the line is handed over through the L3 the cores share); between
// chiplets with separate L3s (AMD's CCDs) or between sockets it is several times that, and so is the cost of every value
// one thread writes and the other reads. A virtual machine's host may move its virtual CPUs between such places while it
// runs: `sharpcnn bench` reports the round trip beside its thread-scaling rounds so that a speed-up measured while the
// threads sat far apart says so (docs/PERFORMANCE.md, "Where the host puts the two cores").
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace SharpCnn.Kernels;

/// <summary>Measures the round trip of a cache line between the cores two threads run on (see the top of this file).</summary>
public static class CoreRoundTrip
{
    /// <summary>The slot of the shared array the threads pass the counter through: 64 bytes in, so no other object shares its cache line.</summary>
    private const int Slot = 16;

    /// <summary>
    /// Nanoseconds per round trip between the calling thread's core and another thread's: the fastest of
    /// <paramref name="bursts"/> timed bursts of <paramref name="exchanges"/> exchanges each (a burst in which either thread was
    /// descheduled is slower, never faster). NaN when the process may run on one processor only, or when the other thread did
    /// not answer within <paramref name="timeLimitSeconds"/> (both threads then shared one core).
    /// </summary>
    public static double Measure(int exchanges = 4000, int bursts = 5, double timeLimitSeconds = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(exchanges, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bursts, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(timeLimitSeconds);
        if (Environment.ProcessorCount < 2) return double.NaN;
        var exchange = new Exchange(Stopwatch.GetTimestamp() + (long)(timeLimitSeconds * Stopwatch.Frequency));
        int total = (bursts + 1) * exchanges; // one untimed burst first, while the other thread starts
        var partner = new Thread(() => exchange.Answer(total)) { IsBackground = true, Name = "SharpCnn core round trip" };
        partner.Start();
        double best = exchange.Ask(exchanges, bursts);
        Volatile.Write(ref exchange.Abandoned, true); // the partner stops waiting if it has not finished
        partner.Join();
        return best;
    }

    /// <summary>The line the two threads pass the counter through, and what both must know to stop.</summary>
    private sealed class Exchange(long deadline)
    {
        private readonly int[] line = new int[3 * Slot]; // 192 bytes: the slot's line lies inside the array whatever its alignment
        public bool Abandoned;

        /// <summary>The calling thread's side: writes the odd values and waits for each answer; the fastest timed burst in ns per exchange, or NaN.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public double Ask(int exchanges, int bursts)
        {
            double best = double.PositiveInfinity;
            int value = 0;
            for (int burst = 0; burst <= bursts; burst++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < exchanges; i++, value += 2)
                {
                    Volatile.Write(ref line[Slot], value + 1);
                    if (!WaitFor(value + 2)) return double.NaN;
                }
                if (burst > 0) best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalNanoseconds / exchanges);
            }
            return best;
        }

        /// <summary>The other thread's side: answers each odd value with the next even one.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Answer(int total)
        {
            for (int i = 0; i < total; i++)
            {
                if (!WaitFor(2 * i + 1)) return;
                Volatile.Write(ref line[Slot], 2 * i + 2);
            }
        }

        /// <summary>Spins until the slot holds <paramref name="expected"/> (true), or until the deadline has passed or the other side gave up (false).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private bool WaitFor(int expected)
        {
            for (int spins = 1; Volatile.Read(ref line[Slot]) != expected; spins++)
            {
                if ((spins & 1023) != 0) continue;
                if (Volatile.Read(ref Abandoned)) return false;
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    Volatile.Write(ref Abandoned, true);
                    return false;
                }
            }
            return true;
        }
    }
}
