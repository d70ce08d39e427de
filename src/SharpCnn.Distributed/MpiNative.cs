// The few MPI calls data-parallel training needs, bound straight to MPICH's C library (libmpich.so.12, Debian's
// `mpich` package; MS-MPI shares its ABI). MPICH's handles are plain ints (mpi.h: MPI_COMM_WORLD = 0x44000000,
// MPI_BYTE = 0x4c00010d), so no marshalling layer is needed. Open MPI has another ABI and is not supported.
using System.Runtime.InteropServices;

namespace SharpCnn.Distributed;

internal static unsafe partial class MpiNative
{
    public const string Library = "libmpich.so.12";
    public const int CommWorld = 0x44000000;
    public const int Byte = 0x4c00010d;
    public const int ErrorsReturn = 0x54000001;
    public const int Success = 0;
    public const int RequestNull = 0x2c000000;
    public const int MaxErrorString = 512;

    /// <summary>MPI_STATUS_IGNORE: <c>(MPI_Status *)1</c> in MPICH's mpi.h.</summary>
    public static readonly nint StatusIgnore = 1;

    [LibraryImport(Library, EntryPoint = "MPI_Initialized")]
    public static partial int Initialized(out int flag);

    [LibraryImport(Library, EntryPoint = "MPI_Init")]
    public static partial int Init(nint argc, nint argv);

    [LibraryImport(Library, EntryPoint = "MPI_Finalized")]
    public static partial int Finalized(out int flag);

    [LibraryImport(Library, EntryPoint = "MPI_Finalize")]
    public static partial int Finalize();

    [LibraryImport(Library, EntryPoint = "MPI_Comm_rank")]
    public static partial int CommRank(int comm, out int rank);

    [LibraryImport(Library, EntryPoint = "MPI_Comm_size")]
    public static partial int CommSize(int comm, out int size);

    [LibraryImport(Library, EntryPoint = "MPI_Comm_set_errhandler")]
    public static partial int CommSetErrhandler(int comm, int handler);

    [LibraryImport(Library, EntryPoint = "MPI_Allgatherv")]
    public static partial int Allgatherv(void* send, int sendCount, int sendType, void* receive, int* receiveCounts, int* displacements, int receiveType, int comm);

    [LibraryImport(Library, EntryPoint = "MPI_Iallgatherv")]
    public static partial int Iallgatherv(void* send, int sendCount, int sendType, void* receive, int* receiveCounts, int* displacements, int receiveType, int comm, out int request);

    [LibraryImport(Library, EntryPoint = "MPI_Isend")]
    public static partial int Isend(void* buffer, int count, int type, int destination, int tag, int comm, out int request);

    [LibraryImport(Library, EntryPoint = "MPI_Irecv")]
    public static partial int Irecv(void* buffer, int count, int type, int source, int tag, int comm, out int request);

    [LibraryImport(Library, EntryPoint = "MPI_Test")]
    public static partial int Test(ref int request, out int flag, nint status);

    [LibraryImport(Library, EntryPoint = "MPI_Cancel")]
    public static partial int Cancel(ref int request);

    [LibraryImport(Library, EntryPoint = "MPI_Request_free")]
    public static partial int RequestFree(ref int request);

    [LibraryImport(Library, EntryPoint = "MPI_Error_string")]
    public static partial int ErrorString(int code, byte* text, out int length);

    [LibraryImport(Library, EntryPoint = "MPI_Barrier")]
    public static partial int Barrier(int comm);

    [LibraryImport(Library, EntryPoint = "MPI_Abort")]
    public static partial int Abort(int comm, int errorCode);
}
