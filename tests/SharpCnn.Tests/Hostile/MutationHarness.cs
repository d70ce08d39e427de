// Randomised mutation testing of file readers, on FsCheck: each case takes a valid seed file,
// applies one to four mutations (bit flips, interesting bytes and 32-bit sizes, cuts,
// deletions, insertions, duplicated ranges, changed or lengthened decimal numbers in text)
// and, for formats with checksums, half the time seals the result again so the mutation
// reaches the checks behind the checksum. The reader must then either accept the file or
// reject it with a FileFormatException naming it; any other exception fails, and so does
// allocating more than a small multiple of what the file holds. FsCheck shrinks a failing
// case to the fewest mutations that still fail.
//
// A reader is registered as a MutationTarget: a delegate over the file's bytes, its seed
// files (by default the corpus files its manifest marks "ok") and optionally a resealer and
// a content-length function (for compressed formats).

using System.IO.Compression;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace SharpCnn.Tests.Hostile;

/// <summary>A file reader under mutation test.</summary>
/// <param name="Name">Names the reader in reports.</param>
/// <param name="Read">Reads a file's bytes (the string names it in error messages); must return or throw <see cref="FileFormatException"/>.</param>
/// <param name="Seeds">Valid files to mutate.</param>
/// <param name="Reseal">Makes a mutated file's checksums valid again (null: the format has none).</param>
/// <param name="ContentLength">Bytes a file really holds once decompressed (null: its length); the allocation bound is a multiple of the larger.</param>
internal sealed record MutationTarget(
    string Name,
    Action<byte[], string> Read,
    IReadOnlyList<byte[]> Seeds,
    Func<byte[], byte[]>? Reseal = null,
    Func<byte[], long>? ContentLength = null)
{
    /// <summary>The corpus files the manifests mark "ok" for <paramref name="reader"/>.</summary>
    public static IReadOnlyList<byte[]> CorpusSeeds(string reader)
    {
        var seeds = new List<byte[]>();
        foreach (string folder in Directory.GetDirectories(CorpusFolder.Root).Order(StringComparer.Ordinal))
            foreach (var entry in CorpusFolder.ReadManifest(folder))
                if (entry.Reader == reader && entry.Expected == CorpusFile.Ok) seeds.Add(File.ReadAllBytes(Path.Combine(folder, entry.File)));
        if (seeds.Count == 0) throw new ArgumentException($"the corpus has no valid file for reader '{reader}'");
        return seeds;
    }

    /// <summary>Decompressed length of a gzip file (as far as it decompresses; capped), or the length of anything else.</summary>
    public static long GzipContentLength(byte[] bytes)
    {
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes.Length;
        long total = 0;
        var buffer = new byte[1 << 16];
        try
        {
            using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            int n;
            while ((n = gzip.Read(buffer)) > 0 && total < 1L << 28) total += n;
        }
        catch (InvalidDataException)
        {
        }
        return Math.Max(total, bytes.Length);
    }
}

/// <summary>One change to a file. Positions are taken modulo the file's length when applied.</summary>
internal abstract record Mutation
{
    public abstract byte[] Apply(byte[] file);

    protected static int At(int position, int length) => length == 0 ? 0 : position % length;

    public sealed record FlipBit(int Position, int Bit) : Mutation
    {
        public override byte[] Apply(byte[] file)
        {
            if (file.Length > 0) file[At(Position, file.Length)] ^= (byte)(1 << Bit);
            return file;
        }
    }

    public sealed record SetByte(int Position, byte Value) : Mutation
    {
        public override byte[] Apply(byte[] file)
        {
            if (file.Length > 0) file[At(Position, file.Length)] = Value;
            return file;
        }
    }

    /// <summary>Writes a 32-bit value (sizes, lengths, counts live in such words).</summary>
    public sealed record SetInt32(int Position, int Value, bool BigEndian) : Mutation
    {
        public override byte[] Apply(byte[] file)
        {
            if (file.Length < 4) return file;
            var span = file.AsSpan(At(Position, file.Length - 3), 4);
            if (BigEndian) System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(span, Value);
            else System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(span, Value);
            return file;
        }
    }

    public sealed record Truncate(int Length) : Mutation
    {
        public override byte[] Apply(byte[] file) => file[..At(Length, file.Length + 1)];
    }

    public sealed record Delete(int Position, int Count) : Mutation
    {
        public override byte[] Apply(byte[] file)
        {
            int at = At(Position, file.Length);
            int count = Math.Min(Count, file.Length - at);
            return [.. file.AsSpan(0, at), .. file.AsSpan(at + count)];
        }
    }

    public sealed record Insert(int Position, byte[] Bytes) : Mutation
    {
        public override byte[] Apply(byte[] file)
        {
            int at = At(Position, file.Length + 1);
            return [.. file.AsSpan(0, at), .. Bytes, .. file.AsSpan(at)];
        }

        public override string ToString() => $"Insert {{ Position = {Position}, Bytes = {Convert.ToHexString(Bytes)} }}";
    }

    /// <summary>Copies a range of the file over another place (repeated structures, shifted headers).</summary>
    public sealed record Duplicate(int From, int To, int Count) : Mutation
    {
        public override byte[] Apply(byte[] file)
        {
            if (file.Length == 0) return file;
            int from = At(From, file.Length), to = At(To, file.Length);
            int count = Math.Min(Count, Math.Min(file.Length - from, file.Length - to));
            file.AsSpan(from, count).ToArray().CopyTo(file, to);
            return file;
        }
    }

    /// <summary>Changes the <paramref name="Index"/>-th decimal digit of the file's text (sizes in a JSON header or spec).</summary>
    public sealed record SetDigit(int Index, char Digit) : Mutation
    {
        public override byte[] Apply(byte[] file)
        {
            var digits = DigitPositions(file);
            if (digits.Count > 0) file[digits[Index % digits.Count]] = (byte)Digit;
            return file;
        }
    }

    /// <summary>Lengthens the <paramref name="Index"/>-th decimal number of the file's text (a size of 3 becomes 3999999).</summary>
    public sealed record AppendDigits(int Index, string Digits) : Mutation
    {
        public override byte[] Apply(byte[] file)
        {
            var digits = DigitPositions(file);
            if (digits.Count == 0) return file;
            int at = digits[Index % digits.Count] + 1;
            return [.. file.AsSpan(0, at), .. Encoding.ASCII.GetBytes(Digits), .. file.AsSpan(at)];
        }
    }

    private static List<int> DigitPositions(byte[] file)
    {
        var positions = new List<int>();
        for (int i = 0; i < file.Length; i++)
            if (file[i] is >= (byte)'0' and <= (byte)'9') positions.Add(i);
        return positions;
    }
}

/// <summary>One test case: a seed, the mutations applied to it in order, and whether to reseal.</summary>
internal sealed record MutationCase(int Seed, Mutation[] Mutations, bool Reseal)
{
    public byte[] Build(MutationTarget target)
    {
        byte[] file = (byte[])target.Seeds[Seed].Clone();
        foreach (var m in Mutations) file = m.Apply(file);
        return Reseal && target.Reseal is not null ? target.Reseal(file) : file;
    }

    public override string ToString() => $"seed {Seed}{(Reseal ? ", resealed" : "")}: {string.Join("; ", Mutations.Select(m => m.ToString()))}";
}

/// <summary>What a run saw.</summary>
internal sealed class MutationReport
{
    public int Cases { get; set; }
    public int Accepted { get; set; }
    public int Rejected { get; set; }
    public long LargestAllocation { get; set; }
    public long LargestAllocationContent { get; set; }
    public string LargestAllocationCase { get; set; } = "";
    public HashSet<string> Problems { get; } = [];

    public override string ToString() =>
        $"{Cases} cases: {Accepted} read, {Rejected} rejected with {Problems.Count} distinct messages; " +
        $"largest allocation {LargestAllocation} bytes, for a file holding {LargestAllocationContent} bytes ({LargestAllocationCase})";
}

/// <summary>Runs mutation cases against a <see cref="MutationTarget"/>.</summary>
internal static class MutationHarness
{
    /// <summary>Allocation allowed per read: this multiple of the larger of the file and its decompressed content...</summary>
    public const int AllocationFactor = 8;

    /// <summary>...plus this, for the fixed cost of a read (streams, a gzip inflater, JSON metadata, a network's objects).</summary>
    public const int AllocationOverhead = 192 << 10;

    private static readonly int[] InterestingInts = [0, 1, -1, 2, 3, 4, 255, 256, 65535, 65536, 1 << 24, int.MaxValue, int.MinValue, int.MaxValue / 2, 1_000_000];
    private static readonly byte[] InterestingBytes = [0x00, 0x01, 0x02, 0x03, 0x08, 0x0d, 0x1f, 0x20, 0x22, 0x2c, 0x30, 0x39, 0x5b, 0x7b, 0x7f, 0x80, 0x8b, 0xfe, 0xff];

    private static Gen<Mutation> MutationGen()
    {
        var position = Gen.Choose(0, int.MaxValue);
        var anyByte = Gen.OneOf(Gen.Elements(InterestingBytes), Gen.Choose(0, 255).Select(b => (byte)b));
        var anyInt = Gen.OneOf(Gen.Elements(InterestingInts), Gen.Choose(int.MinValue, int.MaxValue));
        var small = Gen.Choose(1, 64);
        return Gen.Frequency(
            (6, from p in position from b in Gen.Choose(0, 7) select (Mutation)new Mutation.FlipBit(p, b)),
            (5, from p in position from v in anyByte select (Mutation)new Mutation.SetByte(p, v)),
            (4, from p in position from v in anyInt from big in Gen.Elements(true, false) select (Mutation)new Mutation.SetInt32(p, v, big)),
            (3, from p in position select (Mutation)new Mutation.Truncate(p)),
            (2, from p in position from n in small select (Mutation)new Mutation.Delete(p, n)),
            (2, from p in position from bytes in Gen.ArrayOf(anyByte, 4) select (Mutation)new Mutation.Insert(p, bytes)),
            (2, from f in position from t in position from n in small select (Mutation)new Mutation.Duplicate(f, t, n)),
            (3, from i in position from d in Gen.Elements("0123456789-".ToCharArray()) select (Mutation)new Mutation.SetDigit(i, d)),
            (2, from i in position from d in Gen.Elements("9", "999", "999999", "99999999999", "0", ".5", "e9") select (Mutation)new Mutation.AppendDigits(i, d)));
    }

    private static IEnumerable<MutationCase> Shrink(MutationCase c)
    {
        if (c.Reseal) yield return c with { Reseal = false };
        if (c.Mutations.Length > 1)
            for (int i = 0; i < c.Mutations.Length; i++)
                yield return c with { Mutations = [.. c.Mutations[..i], .. c.Mutations[(i + 1)..]] };
    }

    /// <summary>Runs <paramref name="count"/> cases from FsCheck seed <paramref name="seed"/>; throws (after shrinking) on the first failure.</summary>
    public static MutationReport Run(MutationTarget target, int count, ulong seed)
    {
        var report = new MutationReport();
        foreach (byte[] s in target.Seeds) target.Read(s, "warm-up"); // one-time costs (JIT, static tables) are not the file's
        var cases = from s in Gen.Choose(0, target.Seeds.Count - 1)
                    from n in Gen.Choose(1, 4)
                    from ms in Gen.ArrayOf(MutationGen(), n)
                    from reseal in Gen.Elements(true, false)
                    select new MutationCase(s, ms, reseal);
        var property = Prop.ForAll(Arb.From(cases, Shrink), c => Verify(target, c, report));
        var config = Config.QuickThrowOnFailure
            .WithMaxTest(count)
            .WithQuietOnSuccess(true)
            .WithReplay(new Replay(new Rnd(seed, 0x9E3779B97F4A7C15UL), Microsoft.FSharp.Core.FSharpOption<int>.None));
        FsCheck.Check.One(config, property);
        return report;
    }

    private static bool Verify(MutationTarget target, MutationCase c, MutationReport report)
    {
        byte[] file = c.Build(target);
        const string name = "mutant.bin";
        // Only the read is measured: the report's own bookkeeping (its set of messages grows and is
        // copied as it does) is not the reader's allocation.
        Exception? thrown = null;
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            target.Read(file, name);
        }
        catch (Exception e)
        {
            thrown = e;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        switch (thrown)
        {
            case null:
                report.Accepted++;
                break;
            case FileFormatException e:
                report.Rejected++;
                if (e.FilePath != name || !e.Message.StartsWith(name, StringComparison.Ordinal))
                    throw new InvalidOperationException($"{target.Name}, {c}: the error does not name the file: {e.Message}");
                report.Problems.Add(e.Problem.Length > 48 ? e.Problem[..48] : e.Problem);
                break;
            default:
                throw new InvalidOperationException($"{target.Name}, {c}: threw {thrown.GetType().Name} instead of FileFormatException: {thrown.Message}", thrown);
        }
        long content = Math.Max(file.Length, target.ContentLength?.Invoke(file) ?? file.Length);
        report.Cases++;
        if (allocated > report.LargestAllocation) (report.LargestAllocation, report.LargestAllocationContent, report.LargestAllocationCase) = (allocated, content, c.ToString());
        if (allocated > (long)AllocationFactor * content + AllocationOverhead)
            throw new InvalidOperationException($"{target.Name}, {c}: allocated {allocated} bytes for a file of {file.Length} bytes ({content} of content)");
        return true;
    }
}
