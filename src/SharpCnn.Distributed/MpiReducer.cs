using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using SharpCnn.Training;

namespace SharpCnn.Distributed;

/// <summary>
/// The exchange between the processes of one <c>mpirun</c> job, through MPICH (MPI_Iallgatherv on MPI_COMM_WORLD):
/// hand it to <see cref="Trainer{T}.Reducer"/> and every rank trains its share of each batch to the weights one
/// process would reach. Start it once per process with <see cref="Start"/>, dispose it at the end (MPI_Finalize).
/// <para>
/// No wait is unbounded. Every exchange is nonblocking and polled against a deadline: <see cref="RankTimeout"/> after
/// this rank reached it, plus as long as this rank itself worked since its previous exchange ended (work every rank
/// does, such as loading the data, compiling the code on the first step or evaluating at an epoch's end, is not
/// mistaken for a hang). Errors come back from MPI (MPI_ERRORS_RETURN) instead of ending the process. Before each
/// exchange every rank tells ranks 0 and 1 (the watchers) which exchange and step it reached, so when an exchange
/// does not complete in time a watcher names the rank that did not arrive (with its process id and host, exchanged at
/// the start) in a <see cref="RankLostException"/>. The caller then ends the job (<see cref="AbortJob"/>).
/// </para>
/// </summary>
public sealed unsafe class MpiReducer : IBatchReducer, IDisposable
{
    private const int NoticeTag = 0x5c01;
    private const int NoticeLongs = 2; // exchange sequence number, step
    private const int NoticeSlots = 64;
    private const int HostBytes = 64;
    private const int PeerBytes = 8 + HostBytes; // pid, host length, host

    /// <summary>How long a rank that has not yet reported sees the job go on after a watcher timed out, before it reports itself.</summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    private readonly List<Exchange> exchanges = [];
    private readonly int[] watchers;
    private readonly long* noticeSend; // [watcher][slot][NoticeLongs]
    private readonly int[] noticeRequests; // [watcher][slot]
    private readonly int[] noticeNext;
    private readonly long* noticeReceive; // [rank][NoticeLongs] (watchers only)
    private readonly int[] receiveRequests; // [rank] (watchers only)
    private readonly long[] lastSequence, lastStep;
    private readonly long[] lastHeard; // [rank] when a watcher last received a notice from it (Stopwatch ticks)
    private long lastBeat; // when this rank last told the watchers it is alive while waiting
    private readonly int[] receiveFailed;
    private long sequence, step, lastDone;
    private bool disposed;

    private MpiReducer(int rank, int ranks)
    {
        Rank = rank;
        Ranks = ranks;
        watchers = ranks == 1 ? [] : [.. new[] { 0, 1 }.Where(w => w != rank)];
        noticeSend = (long*)NativeMemory.AllocZeroed((nuint)(Math.Max(1, watchers.Length) * NoticeSlots * NoticeLongs * sizeof(long)));
        noticeRequests = new int[watchers.Length * NoticeSlots];
        Array.Fill(noticeRequests, MpiNative.RequestNull);
        noticeNext = new int[watchers.Length];
        noticeReceive = (long*)NativeMemory.AllocZeroed((nuint)(ranks * NoticeLongs * sizeof(long)));
        receiveRequests = new int[ranks];
        Array.Fill(receiveRequests, MpiNative.RequestNull);
        lastSequence = new long[ranks];
        Array.Fill(lastSequence, -1);
        lastStep = new long[ranks];
        lastHeard = new long[ranks];
        receiveFailed = new int[ranks];
        Peers = [];
        lastDone = Stopwatch.GetTimestamp();
    }

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Ranks { get; }

    /// <summary>Every rank's process id and host, in rank order (exchanged by <see cref="Start"/>).</summary>
    public IReadOnlyList<(int Pid, string Host)> Peers { get; private set; }

    /// <summary>
    /// How long an exchange waits for the other ranks beyond the time this rank itself worked since its previous exchange
    /// (20 s by default): a rank that has not arrived by then died or hung, and <see cref="RankLostException"/> says which.
    /// </summary>
    public TimeSpan RankTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// True when this process was started by MPICH's launcher (<c>mpirun</c>/<c>mpiexec</c>, which sets PMI_RANK and
    /// PMI_SIZE for each process it starts).
    /// </summary>
    public static bool LaunchedByMpirun =>
        Environment.GetEnvironmentVariable("PMI_RANK") is not null && Environment.GetEnvironmentVariable("PMI_SIZE") is not null;

    /// <summary>
    /// Initialises MPI, exchanges every rank's process id and host (<see cref="Peers"/>) and returns this process's reducer.
    /// </summary>
    /// <exception cref="InvalidOperationException">The process was not started by <c>mpirun</c>, or the MPI library
    /// cannot be loaded or initialised; the message says which and what to do.</exception>
    /// <exception cref="RankLostException">A rank did not take part in the first exchange in time.</exception>
    public static MpiReducer Start(TimeSpan? rankTimeout = null)
    {
        if (!LaunchedByMpirun)
            throw new InvalidOperationException("distributed training runs under MPICH's launcher: start it with mpirun -np N (Debian: mpirun.mpich from the mpich package)");
        MpiReducer reducer;
        try
        {
            Check(MpiNative.Initialized(out int initialised), "MPI_Initialized");
            if (initialised == 0) Check(MpiNative.Init(0, 0), "MPI_Init");
            // A failed call returns its error here instead of ending the process, so the trainer can say what happened.
            Check(MpiNative.CommSetErrhandler(MpiNative.CommWorld, MpiNative.ErrorsReturn), "MPI_Comm_set_errhandler");
            Check(MpiNative.CommRank(MpiNative.CommWorld, out int rank), "MPI_Comm_rank");
            Check(MpiNative.CommSize(MpiNative.CommWorld, out int size), "MPI_Comm_size");
            reducer = new MpiReducer(rank, size);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new InvalidOperationException(
                $"the MPI library {MpiNative.Library} cannot be loaded ({e.Message}); install MPICH (Debian: apt-get install mpich) — Open MPI's library has another ABI and is not supported", e);
        }
        if (rankTimeout is { } timeout) reducer.RankTimeout = timeout;
        reducer.PostReceives();
        reducer.ExchangePeers();
        return reducer;
    }

    /// <summary>"rank 1 of 3 (pid 1234 on host)".</summary>
    public string Describe(int rank) =>
        rank < Peers.Count ? $"rank {rank} of {Ranks} (pid {Peers[rank].Pid} on {Peers[rank].Host})" : $"rank {rank} of {Ranks}";

    /// <summary>Every rank on one line: "0 = pid 100 on a, 1 = pid 101 on b".</summary>
    public string DescribeAll() => string.Join(", ", Peers.Select((p, r) => $"{r} = pid {p.Pid} on {p.Host}"));

    /// <inheritdoc />
    public void BeginStep(long step) => this.step = step;

    /// <inheritdoc />
    public void AllGather(ReadOnlySpan<byte> mine, Span<byte> all, ReadOnlySpan<int> counts)
    {
        fixed (byte* send = mine)
        fixed (byte* receive = all)
        {
            Wait(StartCore(send, mine.Length, receive, all.Length, counts, default, default));
        }
    }

    /// <inheritdoc />
    public int StartAllGather(ReadOnlyMemory<byte> mine, Memory<byte> all, ReadOnlySpan<int> counts)
    {
        var send = mine.Pin();
        var receive = all.Pin();
        return StartCore((byte*)send.Pointer, mine.Length, (byte*)receive.Pointer, all.Length, counts, send, receive);
    }

    private int StartCore(byte* send, int sendLength, byte* receive, int receiveLength, ReadOnlySpan<int> counts, MemoryHandle sendPin, MemoryHandle receivePin)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (counts.Length != Ranks) throw new ArgumentException($"{counts.Length} counts for {Ranks} ranks", nameof(counts));
        if (sendLength != counts[Rank]) throw new ArgumentException($"rank {Rank} hands in {sendLength} bytes, its count is {counts[Rank]}", nameof(counts));
        int handle = exchanges.FindIndex(x => !x.Active);
        if (handle < 0)
        {
            handle = exchanges.Count;
            exchanges.Add(new Exchange(Ranks));
        }
        var x = exchanges[handle];
        long at = 0;
        for (int r = 0; r < Ranks; r++)
        {
            x.Counts[r] = counts[r];
            x.Displacements[r] = checked((int)at);
            at += counts[r];
        }
        if (receiveLength < at) throw new ArgumentException($"the receive buffer holds {receiveLength} bytes, the ranks send {at}", nameof(counts));
        long now = Stopwatch.GetTimestamp();
        x.Sequence = ++sequence;
        x.Step = step;
        x.Started = now;
        x.Deadline = now + (long)((RankTimeout.TotalSeconds + Math.Max(0, Stopwatch.GetElapsedTime(lastDone, now).TotalSeconds)) * Stopwatch.Frequency);
        x.SendPin = sendPin;
        x.ReceivePin = receivePin;
        x.Active = true;
        Notify(x);
        // A zero-length send passes a null pointer, which MPI accepts with a count of 0.
        int code = MpiNative.Iallgatherv(send, sendLength, MpiNative.Byte, receive, x.Counts, x.Displacements, MpiNative.Byte, MpiNative.CommWorld, out x.Request);
        if (code != MpiNative.Success) Lost(x, code);
        return handle;
    }

    /// <inheritdoc />
    public void Wait(int exchange)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var x = exchanges[exchange];
        if (!x.Active) throw new InvalidOperationException($"exchange {exchange} is not in progress");
        long began = Stopwatch.GetTimestamp();
        for (long spins = 0; ; spins++)
        {
            int code = MpiNative.Test(ref x.Request, out int done, MpiNative.StatusIgnore);
            if (code != MpiNative.Success) Lost(x, code);
            if (done != 0) break;
            Poll();
            long now = Stopwatch.GetTimestamp();
            Heartbeat(now);
            if (now > x.Deadline)
            {
                if (Lost(x, 0)) break; // it completed in the grace period: a slow rank, not a lost one
            }
            // Spin briefly (an exchange on a quiet machine takes microseconds), then give the core away: on a machine
            // with more ranks than cores the rank being waited for needs it.
            if (spins > 2000) Pause(began, now);
        }
        x.Finish();
        lastDone = Stopwatch.GetTimestamp();
    }

    private static void Pause(long began, long now)
    {
        if (Stopwatch.GetElapsedTime(began, now) > TimeSpan.FromMilliseconds(10)) Thread.Sleep(1);
        else Thread.Yield();
    }

    /// <summary>Tells the watchers (ranks 0 and 1) that this rank reached exchange <paramref name="x"/>.</summary>
    private void Notify(Exchange x)
    {
        for (int w = 0; w < watchers.Length; w++)
        {
            int slot = w * NoticeSlots + noticeNext[w];
            noticeNext[w] = (noticeNext[w] + 1) % NoticeSlots;
            ref int request = ref noticeRequests[slot];
            // The slot's previous notice went out 64 exchanges ago (a small message leaves at once); make sure before reusing it.
            while (request != MpiNative.RequestNull)
            {
                int code = MpiNative.Test(ref request, out int done, MpiNative.StatusIgnore);
                if (code != MpiNative.Success)
                {
                    MpiNative.RequestFree(ref request);
                    request = MpiNative.RequestNull;
                    break;
                }
                if (done != 0) break;
                Poll();
                if (Stopwatch.GetTimestamp() > x.Deadline && Lost(x, 0)) break;
                Thread.Yield();
            }
            long* notice = noticeSend + (long)slot * NoticeLongs;
            notice[0] = x.Sequence;
            notice[1] = x.Step;
            // A watcher that is gone makes this fail or never complete; the exchange's own wait reports it.
            if (MpiNative.Isend(notice, NoticeLongs * sizeof(long), MpiNative.Byte, watchers[w], NoticeTag, MpiNative.CommWorld, out request) != MpiNative.Success)
                request = MpiNative.RequestNull;
        }
    }

    /// <summary>
    /// While this rank waits in an exchange it tells the watchers once a second that it is alive (a notice of its latest
    /// exchange again): when every rank has reached an exchange that does not complete, the rank that stopped sending these
    /// is the one that died or hung inside it (a stopped process cannot move its part of the exchange).
    /// </summary>
    private void Heartbeat(long now)
    {
        if (watchers.Length == 0 || now - lastBeat < Stopwatch.Frequency) return;
        lastBeat = now;
        for (int w = 0; w < watchers.Length; w++)
        {
            int slot = w * NoticeSlots + noticeNext[w];
            ref int request = ref noticeRequests[slot];
            if (request != MpiNative.RequestNull)
            {
                // The slot's last notice has not gone yet: skip this beat rather than wait.
                if (MpiNative.Test(ref request, out int done, MpiNative.StatusIgnore) != MpiNative.Success || done == 0) continue;
            }
            noticeNext[w] = (noticeNext[w] + 1) % NoticeSlots;
            long* notice = noticeSend + (long)slot * NoticeLongs;
            notice[0] = sequence;
            notice[1] = step;
            if (MpiNative.Isend(notice, NoticeLongs * sizeof(long), MpiNative.Byte, watchers[w], NoticeTag, MpiNative.CommWorld, out request) != MpiNative.Success)
                request = MpiNative.RequestNull;
        }
    }

    /// <summary>The ranks a watcher has not heard from for more than 3 s (three missed heartbeats): in an exchange every rank reached, the ones that stopped.</summary>
    private List<int> SilentRanks()
    {
        var silent = new List<int>();
        if (Rank > 1) return silent;
        long now = Stopwatch.GetTimestamp();
        for (int r = 0; r < Ranks; r++)
            if (r != Rank && now - lastHeard[r] > 3 * Stopwatch.Frequency) silent.Add(r);
        return silent;
    }

    /// <summary>A watcher listens for every other rank's notices.</summary>
    private void PostReceives()
    {
        if (Rank > 1 || Ranks == 1) return;
        for (int r = 0; r < Ranks; r++)
            if (r != Rank) Post(r);
    }

    private void Post(int source)
    {
        if (MpiNative.Irecv(noticeReceive + (long)source * NoticeLongs, NoticeLongs * sizeof(long), MpiNative.Byte, source, NoticeTag, MpiNative.CommWorld, out receiveRequests[source]) != MpiNative.Success)
        {
            receiveRequests[source] = MpiNative.RequestNull;
            receiveFailed[source] = -1;
        }
    }

    /// <summary>Takes in the notices that arrived (a watcher's bookkeeping; nothing for the other ranks).</summary>
    private void Poll()
    {
        for (int r = 0; r < receiveRequests.Length; r++)
        {
            while (receiveRequests[r] != MpiNative.RequestNull)
            {
                int code = MpiNative.Test(ref receiveRequests[r], out int done, MpiNative.StatusIgnore);
                if (code != MpiNative.Success)
                {
                    receiveFailed[r] = code; // the connection to rank r broke: it died
                    receiveRequests[r] = MpiNative.RequestNull;
                    break;
                }
                if (done == 0) break;
                long* notice = noticeReceive + (long)r * NoticeLongs;
                lastSequence[r] = Math.Max(lastSequence[r], notice[0]);
                lastStep[r] = Math.Max(lastStep[r], notice[1]);
                lastHeard[r] = Stopwatch.GetTimestamp();
                Post(r);
            }
        }
    }

    /// <summary>
    /// Exchange <paramref name="x"/> failed (MPI error <paramref name="code"/>) or ran out of time (code 0). A watcher
    /// names the ranks that did not arrive; another rank gives the watchers <see cref="Grace"/> to end the job first.
    /// Returns true when the exchange completed after all in that time (a slow rank); otherwise throws.
    /// </summary>
    private bool Lost(Exchange x, int code)
    {
        Poll();
        var missing = MissingRanks(x);
        var silent = missing.Count == 0 && code == MpiNative.Success ? SilentRanks() : [];
        // Rank 0 reports; rank 1 too when rank 0 is the one missing; anyone else waits for them to end the job.
        bool reporter = Rank == 0 || (Rank == 1 && (missing.Contains(0) || silent.Contains(0))) || Ranks == 1;
        if (!reporter)
        {
            long until = Stopwatch.GetTimestamp() + (long)(Grace.TotalSeconds * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < until)
            {
                if (code == MpiNative.Success && x.Request != MpiNative.RequestNull)
                {
                    if (MpiNative.Test(ref x.Request, out int done, MpiNative.StatusIgnore) != MpiNative.Success) break;
                    if (done != 0) return true;
                }
                Poll();
                Heartbeat(Stopwatch.GetTimestamp());
                Thread.Sleep(1);
            }
            missing = MissingRanks(x);
            silent = missing.Count == 0 && code == MpiNative.Success ? SilentRanks() : [];
        }
        double waited = Stopwatch.GetElapsedTime(x.Started, x.Deadline).TotalSeconds;
        string where = x.Step > 0 ? $"step {x.Step}" : "the start of the run";
        string message;
        if (missing.Count > 0)
        {
            string who = missing.Count == 1 ? Describe(missing[0]) : string.Join(" and ", missing.Select(Describe));
            // "step 57" when it was not heard from in that step, "the next exchange of step 57" when it was.
            bool inStep = x.Step > 0 && missing.All(r => lastStep[r] == x.Step);
            string target = inStep ? $"the next exchange of step {x.Step}" : where;
            string seen = string.Join("; ", missing.Select(r =>
                receiveFailed[r] > 0 ? $"the connection to rank {r} broke ({ErrorText(receiveFailed[r])})"
                : lastSequence[r] < 0 ? $"rank {r} was not heard from since the start"
                : lastStep[r] > 0 ? $"rank {r} was last heard from in step {lastStep[r]}" : $"rank {r} was last heard from before the first step"));
            message = code != MpiNative.Success
                ? $"{who} did not reach {target}: the exchange failed ({ErrorText(code)}); {seen}: it died or hung"
                : $"{who} did not reach {target} within {waited:0} s: it died or hung ({seen})";
        }
        else if (silent.Count > 0)
        {
            // Every rank reached the exchange, but these stopped telling the watchers they are alive while it waited.
            string who = silent.Count == 1 ? Describe(silent[0]) : string.Join(" and ", silent.Select(Describe));
            double quiet = silent.Min(r => Stopwatch.GetElapsedTime(lastHeard[r]).TotalSeconds);
            message = $"{who} reached the exchange of {where} and has not been heard from for {quiet:0} s since; the exchange did not complete within {waited:0} s: it died or hung";
            missing = silent;
        }
        else
        {
            message = code != MpiNative.Success
                ? $"rank {Rank} of {Ranks}: the exchange of {where} failed ({ErrorText(code)}): a rank died or its connection broke (ranks: {DescribeAll()})"
                : $"rank {Rank} of {Ranks}: the exchange of {where} did not complete within {waited:0} s although " +
                  (Rank <= 1 ? "every rank reached it: one died or hung inside it" : "this rank reached it, and ranks 0 and 1, which watch the others, did not end the job") +
                  $" (ranks: {DescribeAll()})";
        }
        throw new RankLostException(message, missing, x.Step);
    }

    /// <summary>The ranks a watcher has not heard reach exchange <paramref name="x"/> (nothing on a rank that watches no one).</summary>
    private List<int> MissingRanks(Exchange x)
    {
        var missing = new List<int>();
        if (Rank > 1) return missing;
        for (int r = 0; r < Ranks; r++)
            if (r != Rank && (lastSequence[r] < x.Sequence || receiveFailed[r] != 0)) missing.Add(r);
        return missing;
    }

    private static string ErrorText(int code)
    {
        if (code < 0) return "the receive could not be posted";
        byte* text = stackalloc byte[MpiNative.MaxErrorString];
        try
        {
            if (MpiNative.ErrorString(code, text, out int length) == MpiNative.Success && length > 0)
                return $"MPI error {code}: {Encoding.UTF8.GetString(text, Math.Min(length, MpiNative.MaxErrorString)).Trim()}";
        }
        catch (EntryPointNotFoundException)
        {
            // no text: the number alone
        }
        return $"MPI error {code}";
    }

    /// <summary>The first exchange: every rank's process id and host name, for messages that name a rank.</summary>
    private void ExchangePeers()
    {
        var mine = new byte[PeerBytes];
        BitConverter.TryWriteBytes(mine.AsSpan(0, 4), Environment.ProcessId);
        byte[] host = Encoding.UTF8.GetBytes(Environment.MachineName);
        int length = Math.Min(host.Length, HostBytes);
        BitConverter.TryWriteBytes(mine.AsSpan(4, 4), length);
        host.AsSpan(0, length).CopyTo(mine.AsSpan(8));
        var all = new byte[PeerBytes * Ranks];
        var counts = new int[Ranks];
        Array.Fill(counts, PeerBytes);
        AllGather(mine, all, counts);
        var peers = new (int, string)[Ranks];
        for (int r = 0; r < Ranks; r++)
        {
            var record = all.AsSpan(r * PeerBytes, PeerBytes);
            int n = Math.Clamp(BitConverter.ToInt32(record[4..8]), 0, HostBytes);
            peers[r] = (BitConverter.ToInt32(record[..4]), Encoding.UTF8.GetString(record.Slice(8, n)));
        }
        Peers = peers;
    }

    /// <summary>Waits until every rank has reached this point (bounded like every exchange).</summary>
    public void Barrier()
    {
        Span<int> counts = stackalloc int[Ranks];
        AllGather([], [], counts);
    }

    /// <summary>Ends the whole job (every rank) with <paramref name="code"/>: for a rank that cannot go on while the others wait for it.</summary>
    public static void AbortJob(int code)
    {
        try
        {
            MpiNative.Abort(MpiNative.CommWorld, code);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // no MPI: nothing to abort
        }
    }

    /// <summary>Finalises MPI (once every rank is done).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        for (int r = 0; r < receiveRequests.Length; r++)
        {
            if (receiveRequests[r] == MpiNative.RequestNull) continue;
            MpiNative.Cancel(ref receiveRequests[r]);
            MpiNative.RequestFree(ref receiveRequests[r]);
        }
        for (int i = 0; i < noticeRequests.Length; i++)
            if (noticeRequests[i] != MpiNative.RequestNull) MpiNative.RequestFree(ref noticeRequests[i]);
        foreach (var x in exchanges) x.Dispose();
        MpiNative.Finalized(out int finalized);
        if (finalized == 0) MpiNative.Finalize();
        NativeMemory.Free(noticeSend);
        NativeMemory.Free(noticeReceive);
    }

    private static void Check(int code, string call)
    {
        if (code != MpiNative.Success) throw new InvalidOperationException($"{call} failed ({ErrorText(code)})");
    }

    /// <summary>One exchange in flight: its request, the counts and displacements MPI reads until it completes, the pinned buffers.</summary>
    private sealed class Exchange(int ranks) : IDisposable
    {
        public readonly int* Counts = (int*)NativeMemory.Alloc((nuint)(ranks * sizeof(int)));
        public readonly int* Displacements = (int*)NativeMemory.Alloc((nuint)(ranks * sizeof(int)));
        public int Request = MpiNative.RequestNull;
        public long Sequence, Step, Started, Deadline;
        public MemoryHandle SendPin, ReceivePin;
        public bool Active;

        public void Finish()
        {
            SendPin.Dispose();
            ReceivePin.Dispose();
            SendPin = default;
            ReceivePin = default;
            Active = false;
        }

        public void Dispose()
        {
            Finish();
            NativeMemory.Free(Counts);
            NativeMemory.Free(Displacements);
        }
    }
}
