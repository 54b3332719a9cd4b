package app

data class User(val id: Long)

object Registry {
    fun register(u: User) {}
    val size: Int = 0
}

suspend fun fetch(id: Long): User = User(id)

private fun String.shout() = uppercase()
