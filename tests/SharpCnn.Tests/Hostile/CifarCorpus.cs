// The CIFAR part of the hostile-input corpus: small valid CIFAR-10 and CIFAR-100 batches (the seeds of
// the mutation tests), then files that are empty, cut inside a record, padded, or carry a label out of
// range, each with the record and byte the reader must name.

using SharpCnn.Tests.Data;

namespace SharpCnn.Tests.Hostile;

internal sealed class CifarCorpus : ICorpusFormat
{
    public string Folder => "cifar";

    public static byte[] Cifar10 => CifarFolderTests.Records(3, i => [(byte)(i * 4 % 10)]);

    public static byte[] Cifar100 => CifarFolderTests.Records(2, i => [(byte)(7 + i), (byte)(93 + i)]);

    public IEnumerable<CorpusFile> Generate()
    {
        byte[] ten = Cifar10, hundred = Cifar100;
        yield return new("good-cifar10.bin", ten, "cifar10", CorpusFile.Ok);
        yield return new("good-cifar100.bin", hundred, "cifar100-fine", CorpusFile.Ok);
        yield return new("good-cifar100-coarse.bin", hundred, "cifar100-coarse", CorpusFile.Ok);

        yield return new("empty.bin", [], "cifar10", "at byte 0: the file is empty: expected records of 1 label byte and 3072 pixel bytes");
        yield return new("cut-in-record-2.bin", ten[..(3073 + 1500)], "cifar10", "at byte 3073: expected records of 3073 bytes (1 label byte and 3072 pixel bytes), but the file's 4573 bytes end 1500 bytes into record 2: the file is truncated or not a CIFAR 10 batch");
        yield return new("label-only.bin", ten[..1], "cifar10", "end 1 bytes into record 1");
        yield return new("one-byte-too-many.bin", [.. ten, 0], "cifar10", "at byte 9219: expected records of 3073 bytes (1 label byte and 3072 pixel bytes), but the file's 9220 bytes end 1 bytes into record 4");
        yield return new("cifar100-read-as-cifar10.bin", hundred, "cifar10", "at byte 6146: expected records of 3073 bytes (1 label byte and 3072 pixel bytes), but the file's 6148 bytes end 2 bytes into record 3");
        byte[] badLabel = (byte[])ten.Clone();
        badLabel[2 * 3073] = 10;
        yield return new("label-10.bin", badLabel, "cifar10", "at byte 6146: expected a label below 10 in record 3, found 10");
        byte[] badFine = (byte[])hundred.Clone();
        badFine[3074 + 1] = 100;
        yield return new("fine-label-100.bin", badFine, "cifar100-fine", "at byte 3075: expected a fine label below 100 in record 2, found 100");
        byte[] badCoarse = (byte[])hundred.Clone();
        badCoarse[0] = 20;
        yield return new("coarse-label-20.bin", badCoarse, "cifar100-fine", "at byte 0: expected a coarse label below 20 in record 1, found 20");
        yield return new("coarse-label-20-as-coarse.bin", badCoarse, "cifar100-coarse", "at byte 0: expected a coarse label below 20 in record 1, found 20");
    }
}
