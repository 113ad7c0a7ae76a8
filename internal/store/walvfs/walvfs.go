// Package walvfs is a SQLite VFS that writes a transaction's WAL frames to
// the file in a few writes instead of two system calls per page.
//
// SQLite appends a committing transaction's pages to the WAL one frame at a
// time, each frame a 24-byte header and a page, each with its own write. A
// posting-engine batch dirties a hundred pages or more, so a commit costs a
// few hundred pwrite calls, and on a virtual machine a system call is dear.
// This VFS wraps the default ("unix") VFS: every file behaves exactly as
// there, except that appends to a WAL file are gathered in memory and
// written with one call per 124 KiB (the most the unix VFS writes at once),
// at the latest when the commit frame (the frame whose header carries the
// database size) has been written in full. The
// write that completes a commit frame therefore returns only once the whole
// transaction is in the file, and fails if writing it failed, so COMMIT
// returns, and other connections can see the transaction, only when its
// frames are where SQLite's own VFS would have put them.
//
// Anything that is not an append (a frame rewritten in place, the
// checksums SQLite rewrites after one, the WAL header when the log starts
// over) first writes what is gathered and then goes straight to the file,
// as does every read, sync, truncate, size query and file control on the
// WAL, and its close. Other files (the database, its shared memory, journals)
// are not touched at all. Nothing here changes what is durable: fsync is
// still the caller's (SQLite's, or store's syncer); a crash loses at most
// gathered frames of a transaction that had not committed, which SQLite's
// recovery ignores just as it ignores frames a crash cut short.
//
// Open a database with it by adding "vfs="+Name to the connection's query
// string after Register has succeeded. Registration is process-wide, as
// SQLite's VFS registry is, and happens once.
package walvfs

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Name is the name the VFS is registered under.
const Name = "fiscus-wal"

const (
	// frameHeaderSize is the size of a WAL frame header (pgno, database
	// size for a commit frame or 0, two salts, two checksums).
	frameHeaderSize = 24
	// maxWrite is the most the unix VFS writes with one call: it masks a
	// write's length to 17 bits (os_unix.c, seekAndWriteFd), so one of
	// 128 KiB or more would be cut short. 31 pages of 4 KiB.
	maxWrite = 31 << 12
	// maxGathered bounds the bytes gathered before they are written anyway
	// (a transaction larger than this is written in pieces of this size).
	maxGathered = 8 << 20
)

var (
	registerOnce sync.Once
	registerErr  error

	// unixVFS is the wrapped VFS; set once by Register.
	unixVFS *sqlite3.Tsqlite3_vfs

	mu sync.Mutex
	// files maps an open WAL file (the sqlite3_file SQLite allocated) to
	// what this package keeps for it.
	files = map[uintptr]*walFile{}
	// methods maps the unix VFS's I/O methods table of a WAL file to this
	// package's table wrapping it (one in practice).
	methods = map[uintptr]uintptr{}

	// requested and made count WAL writes SQLite asked for and writes
	// this package made to the file, over the process (Counts).
	requested, made atomic.Int64
)

// Counts reports how many WAL writes SQLite has asked this VFS for and how
// many it made to the files, since the process started.
func Counts() (requestedWrites, madeWrites int64) {
	return requested.Load(), made.Load()
}

// walFile is one open WAL file: its own methods and the appends gathered
// but not yet written. SQLite uses a file from one connection at a time,
// under that connection's mutex, so nothing here is locked.
type walFile struct {
	orig *sqlite3.Tsqlite3_io_methods

	buf    uintptr // C memory holding the gathered bytes
	bufCap int
	start  int64 // file offset of buf's first byte
	n      int   // bytes gathered

	lastEnd int64 // offset just past the last write; -1: none yet
	// commitData is the offset at which the page of a commit frame, whose
	// header was just written, starts (-1: no commit frame pending).
	commitData int64
}

// Register registers the VFS (once per process) and reports whether it
// could be. It makes nothing the default.
func Register() error {
	registerOnce.Do(func() { registerErr = register() })
	return registerErr
}

func register() error {
	tls := libc.NewTLS()
	defer tls.Close()
	root := sqlite3.Xsqlite3_vfs_find(tls, 0)
	if root == 0 {
		return fmt.Errorf("walvfs: SQLite has no default VFS")
	}
	unixVFS = (*sqlite3.Tsqlite3_vfs)(cptr(root))
	p := libc.Xmalloc(tls, sqlite3.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})))
	if p == 0 {
		return fmt.Errorf("walvfs: out of memory")
	}
	name, err := libc.CString(Name)
	if err != nil {
		libc.Xfree(tls, p)
		return fmt.Errorf("walvfs: %w", err)
	}
	vfs := (*sqlite3.Tsqlite3_vfs)(cptr(p))
	*vfs = *unixVFS
	vfs.FpNext = 0
	vfs.FzName = name
	setFunc(&vfs.FxOpen, xOpen)
	if rc := sqlite3.Xsqlite3_vfs_register(tls, p, 0); rc != sqlite3.SQLITE_OK {
		libc.Xfree(tls, name)
		libc.Xfree(tls, p)
		return fmt.Errorf("walvfs: register: SQLite result code %d", rc)
	}
	return nil
}

// setFunc stores a Go function in a C function-pointer slot the way the
// transpiled SQLite calls through one.
func setFunc[F any](slot *uintptr, f F) {
	*(*F)(unsafe.Pointer(slot)) = f
}

// cptr is the pointer to C memory at address p. The memory is SQLite's
// (libc's allocator, outside the Go heap), so the garbage collector has
// nothing to track.
func cptr(p uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&p))
}

// fn reads a C function-pointer slot as a callable Go function.
func fn[F any](slot uintptr) F {
	return *(*F)(unsafe.Pointer(&slot))
}

type (
	openFunc     = func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32
	closeFunc    = func(*libc.TLS, uintptr) int32
	rwFunc       = func(*libc.TLS, uintptr, uintptr, int32, int64) int32
	truncateFunc = func(*libc.TLS, uintptr, int64) int32
	syncFunc     = func(*libc.TLS, uintptr, int32) int32
	sizeFunc     = func(*libc.TLS, uintptr, uintptr) int32
	controlFunc  = func(*libc.TLS, uintptr, int32, uintptr) int32
)

// xOpen opens the file with the unix VFS and, for a WAL file, swaps in the
// wrapping methods.
func xOpen(tls *libc.TLS, _ uintptr, zName uintptr, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	root := uintptr(unsafe.Pointer(unixVFS))
	rc := fn[openFunc](unixVFS.FxOpen)(tls, root, zName, pFile, flags, pOutFlags)
	if rc != sqlite3.SQLITE_OK || flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	file := (*sqlite3.Tsqlite3_file)(cptr(pFile))
	if file.FpMethods == 0 {
		return rc
	}
	mu.Lock()
	defer mu.Unlock()
	wrapped, ok := methods[file.FpMethods]
	if !ok {
		p := libc.Xmalloc(tls, sqlite3.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
		if p == 0 {
			// Cannot wrap: the file works as the unix VFS's, unbuffered.
			return rc
		}
		m := (*sqlite3.Tsqlite3_io_methods)(cptr(p))
		*m = *(*sqlite3.Tsqlite3_io_methods)(cptr(file.FpMethods))
		setFunc(&m.FxClose, xClose)
		setFunc(&m.FxRead, xRead)
		setFunc(&m.FxWrite, xWrite)
		setFunc(&m.FxTruncate, xTruncate)
		setFunc(&m.FxSync, xSync)
		setFunc(&m.FxFileSize, xFileSize)
		setFunc(&m.FxFileControl, xFileControl)
		methods[file.FpMethods] = p
		wrapped = p
	}
	files[pFile] = &walFile{
		orig:       (*sqlite3.Tsqlite3_io_methods)(cptr(file.FpMethods)),
		lastEnd:    -1,
		commitData: -1,
	}
	file.FpMethods = wrapped
	return rc
}

func lookup(pFile uintptr) *walFile {
	mu.Lock()
	f := files[pFile]
	mu.Unlock()
	if f == nil {
		panic(fmt.Sprintf("walvfs: unknown WAL file %#x", pFile))
	}
	return f
}

// flush writes what is gathered through the unix VFS's xWrite, in pieces
// of at most maxWrite bytes.
func (f *walFile) flush(tls *libc.TLS, pFile uintptr) int32 {
	n := f.n
	f.n = 0
	for done := 0; done < n; {
		k := min(n-done, maxWrite)
		made.Add(1)
		if rc := fn[rwFunc](f.orig.FxWrite)(tls, pFile, f.buf+uintptr(done), int32(k), f.start+int64(done)); rc != sqlite3.SQLITE_OK {
			return rc
		}
		done += k
	}
	return sqlite3.SQLITE_OK
}

func (f *walFile) write(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	requested.Add(1)
	if iAmt == frameHeaderSize {
		// Bytes 4-7 of a frame header: the database size in pages after
		// a commit, 0 in every other frame.
		hdr := unsafe.Slice((*byte)(cptr(zBuf)), frameHeaderSize)
		if binary.BigEndian.Uint32(hdr[4:8]) != 0 {
			f.commitData = iOfst + frameHeaderSize
		}
	}
	completesCommit := iOfst == f.commitData && iAmt != frameHeaderSize
	if completesCommit {
		f.commitData = -1
	}
	appends := iOfst == f.lastEnd && f.n+int(iAmt) <= maxGathered
	f.lastEnd = iOfst + int64(iAmt)
	if !appends || f.grow(tls, f.n+int(iAmt)) != sqlite3.SQLITE_OK {
		// Not an append (or no room to gather it): what is gathered, then
		// this, straight to the file.
		if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
			return rc
		}
		made.Add(1)
		return fn[rwFunc](f.orig.FxWrite)(tls, pFile, zBuf, iAmt, iOfst)
	}
	if f.n == 0 {
		f.start = iOfst
	}
	libc.Xmemcpy(tls, f.buf+uintptr(f.n), zBuf, sqlite3.Tsize_t(iAmt))
	f.n += int(iAmt)
	if completesCommit {
		return f.flush(tls, pFile)
	}
	return sqlite3.SQLITE_OK
}

// grow makes room for need bytes in buf.
func (f *walFile) grow(tls *libc.TLS, need int) int32 {
	if need <= f.bufCap {
		return sqlite3.SQLITE_OK
	}
	c := max(f.bufCap*2, 256<<10)
	for c < need {
		c *= 2
	}
	c = min(c, maxGathered)
	p := libc.Xrealloc(tls, f.buf, sqlite3.Tsize_t(c))
	if p == 0 {
		return sqlite3.SQLITE_NOMEM
	}
	f.buf, f.bufCap = p, c
	return sqlite3.SQLITE_OK
}

func xWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	return lookup(pFile).write(tls, pFile, zBuf, iAmt, iOfst)
}

func xRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	f := lookup(pFile)
	if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[rwFunc](f.orig.FxRead)(tls, pFile, zBuf, iAmt, iOfst)
}

func xTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	f := lookup(pFile)
	if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	f.lastEnd = -1
	return fn[truncateFunc](f.orig.FxTruncate)(tls, pFile, size)
}

func xSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	f := lookup(pFile)
	if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[syncFunc](f.orig.FxSync)(tls, pFile, flags)
}

func xFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	f := lookup(pFile)
	if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[sizeFunc](f.orig.FxFileSize)(tls, pFile, pSize)
}

func xFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	f := lookup(pFile)
	if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[controlFunc](f.orig.FxFileControl)(tls, pFile, op, pArg)
}

func xClose(tls *libc.TLS, pFile uintptr) int32 {
	f := lookup(pFile)
	rc := f.flush(tls, pFile)
	mu.Lock()
	delete(files, pFile)
	mu.Unlock()
	if f.buf != 0 {
		libc.Xfree(tls, f.buf)
	}
	file := (*sqlite3.Tsqlite3_file)(cptr(pFile))
	file.FpMethods = uintptr(unsafe.Pointer(f.orig))
	if crc := fn[closeFunc](f.orig.FxClose)(tls, pFile); rc == sqlite3.SQLITE_OK {
		rc = crc
	}
	return rc
}
